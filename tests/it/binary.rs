//! Black-box tests (tier 3): the real binary.
