//! The DATA reader: `envoi_edge::proto::check::data_input`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    envoi_edge::proto::check::data_input(data);
});
