//! The two database backends every scenario runs on, and the one way to run a test on both:
//! `on_each_backend!(name)` turns `fn name(backend: Backend)` into the tests `name::sqlite` and
//! `name::postgres`. Each run builds its own deployment (a fresh SQLite file, or a scratch
//! PostgreSQL database of its own), so the two run in parallel without seeing each other.

pub use grantor_scratch_postgres::POSTGRES_URL_VAR;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Whether PostgreSQL tests were asked for (`TEST_POSTGRES_URL` set; then it must work).
pub fn postgres_requested() -> bool {
    std::env::var_os(POSTGRES_URL_VAR).is_some()
}

/// The PostgreSQL half of a test: false (and says so on the test's output) when
/// `TEST_POSTGRES_URL` is unset, so the test returns without running.
pub fn postgres_or_skip(test: &str) -> bool {
    let requested = postgres_requested();
    if !requested {
        eprintln!("{test}: skipped on PostgreSQL, {POSTGRES_URL_VAR} is not set");
    }
    requested
}

/// `on_each_backend!(name);` beside `fn name(backend: Backend)`: the tests `name::sqlite` and
/// `name::postgres` (which returns at once, saying so, when `TEST_POSTGRES_URL` is unset). A
/// failure names its backend.
macro_rules! on_each_backend {
    ($name:ident) => {
        mod $name {
            #[test]
            fn sqlite() {
                super::$name($crate::harness::Backend::Sqlite);
            }

            #[test]
            fn postgres() {
                if $crate::harness::postgres_or_skip(concat!(module_path!(), "::postgres")) {
                    super::$name($crate::harness::Backend::Postgres);
                }
            }
        }
    };
}
pub(crate) use on_each_backend;
