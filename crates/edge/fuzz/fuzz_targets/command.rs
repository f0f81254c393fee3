//! Command framing and parsing: `envoi_edge::proto::check::command_input`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    envoi_edge::proto::check::command_input(data);
});
