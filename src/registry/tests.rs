//! Registry tests (tier 1): the service layer on a temporary database with a manual clock.
