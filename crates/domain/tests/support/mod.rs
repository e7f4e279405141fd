//! What the domain's property tests share.

use proptest::test_runner::{Config, RngAlgorithm, RngSeed};

/// proptest's configuration for the domain's property tests: a fixed seed
/// and no failure file, so a run is reproducible; `GRANTOR_FUZZ_CASES` and
/// `GRANTOR_FUZZ_SEED` override the number of cases and the seed.
pub fn config(default_cases: u32) -> Config {
    let number = |name: &str, default: u64| {
        std::env::var(name)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    Config {
        cases: number("GRANTOR_FUZZ_CASES", u64::from(default_cases)) as u32,
        rng_algorithm: RngAlgorithm::ChaCha,
        rng_seed: RngSeed::Fixed(number("GRANTOR_FUZZ_SEED", 0x0067_7261_6e74_6f72)),
        failure_persistence: None,
        ..Config::default()
    }
}
