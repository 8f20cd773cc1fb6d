//! Router tests (tier 2): every rule of POLICY.md sections 1 and 2 through the registrar API.
