//! The queue's behaviour suite (`envoi_queue::testkit`), run against PostgreSQL: one suite,
//! every store. Each test gets a schema of its own, dropped at its end. Skipped (and says so)
//! without `ENVOI_TEST_POSTGRES_URL`.

mod common;

envoi_queue::behaviour_suite!(optional common::scratch);
