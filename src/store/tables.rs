//! Every table of the database, declared once: its key, its value and what it holds. The
//! families' accessors (`domains`, `contacts`, ...) open them; `WriteTx::init_tables` creates
//! them all and `backup` copies them all, so a new table is added in these three places.

use redb::TableDefinition;

pub(super) const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");
pub(super) const COUNTERS: TableDefinition<&str, i64> = TableDefinition::new("counters");
pub(super) const DOMAINS: TableDefinition<&str, &[u8]> = TableDefinition::new("domains");
/// (registrar id, domain name)
pub(super) const DOMAINS_BY_REGISTRAR: TableDefinition<(&str, &str), ()> = TableDefinition::new("domains_by_registrar");
/// (due time, domain name): the lifecycle job's work list, by when each domain next needs it
/// (its expiry, the end of its restore period or of a review).
pub(super) const DOMAINS_DUE: TableDefinition<(i64, &str), ()> = TableDefinition::new("domains_due");
/// (nameserver count, unicode name, A-label name) for every domain: the undelegated ones (fewer
/// nameservers than their TLD's minimum) are a range of it, listed in Unicode order without a
/// scan (the admin's `inactive` filter and the queues page). Schema 3; filled by its migration.
pub(super) const DOMAINS_BY_NS_COUNT: TableDefinition<(u8, &str, &str), ()> =
    TableDefinition::new("domains_by_ns_count");
/// (status, domain name) for every stored status: queues (pendingCreate, pendingUpdate) and filters.
pub(super) const DOMAINS_BY_STATUS: TableDefinition<(&str, &str), ()> = TableDefinition::new("domains_by_status");
/// (registrar id, message id) -> PollMessage
pub(super) const POLL: TableDefinition<(&str, u64), &[u8]> = TableDefinition::new("poll");
/// (registrar id, Idempotency-Key) -> IdempotencyRecord
pub(super) const IDEMPOTENCY: TableDefinition<(&str, &str), &[u8]> = TableDefinition::new("idempotency");
/// Origin -> Suspension: the directory's suspended (and remembered) origins.
pub(super) const SUSPENSIONS: TableDefinition<&str, &[u8]> = TableDefinition::new("suspensions");
/// (latest time in the block, sequence) -> QueryLogBlock: every directory query, for the
/// retention period, a block per flush of the query-log writer.
pub(super) const QUERY_LOG_BLOCKS: TableDefinition<(i64, u64), &[u8]> = TableDefinition::new("query_log_blocks");
/// (origin, latest time in the block, sequence): the blocks holding an origin's queries.
pub(super) const QUERY_LOG_BLOCK_ORIGINS: TableDefinition<(&str, i64, u64), ()> =
    TableDefinition::new("query_log_block_origins");

/// Tables of earlier schema versions, read only by the migrations.
pub(super) mod legacy {
    use redb::TableDefinition;

    /// Version 1: (time, sequence) -> QueryLogEntry, a record per query.
    pub const QUERY_LOG: TableDefinition<(i64, u64), &[u8]> = TableDefinition::new("query_log");
    /// Version 1: (origin, time, sequence).
    pub const QUERY_LOG_BY_ORIGIN: TableDefinition<(&str, i64, u64), ()> = TableDefinition::new("query_log_by_origin");
}
/// SHA-256 of a session token -> Session
pub(super) const SESSIONS: TableDefinition<&[u8; 32], &[u8]> = TableDefinition::new("sessions");
/// id -> DisclosureRequest
pub(super) const DISCLOSURES: TableDefinition<u64, &[u8]> = TableDefinition::new("disclosures");
/// (unicode name, A-label name): name searches by U-label or A-label prefix.
pub(super) const DOMAINS_BY_UNICODE: TableDefinition<(&str, &str), ()> = TableDefinition::new("domains_by_unicode");
/// (time, registrar id, Idempotency-Key): expiry of the records above.
pub(super) const IDEMPOTENCY_BY_TIME: TableDefinition<(i64, &str, &str), ()> =
    TableDefinition::new("idempotency_by_time");
pub(super) const CONTACTS: TableDefinition<&str, &[u8]> = TableDefinition::new("contacts");
/// (contact handle, domain name): which domains use a contact, in any role.
pub(super) const CONTACT_USES: TableDefinition<(&str, &str), ()> = TableDefinition::new("contact_uses");
/// (nameserver host name, domain name): which domains delegate to a host (RDAP nameserver lookups).
pub(super) const NAMESERVER_USES: TableDefinition<(&str, &str), ()> = TableDefinition::new("nameserver_uses");
/// (registrar id, contact handle)
pub(super) const CONTACTS_BY_REGISTRAR: TableDefinition<(&str, &str), ()> =
    TableDefinition::new("contacts_by_registrar");
pub(super) const REGISTRARS: TableDefinition<&str, &[u8]> = TableDefinition::new("registrars");
/// Registrar id -> EppAccess (EPP password digest, pinned client certificates). Created by its
/// first write, so a database of an earlier version needs no migration.
pub(super) const EPP_ACCESS: TableDefinition<&str, &[u8]> = TableDefinition::new("epp_access");
pub(super) const USERS: TableDefinition<&str, &[u8]> = TableDefinition::new("users");
/// (object key such as `domain:exemplo.pt`, global sequence) -> HistoryEntry
pub(super) const HISTORY: TableDefinition<(&str, u64), &[u8]> = TableDefinition::new("history");
/// (registrar id, global sequence) -> LedgerEntry
pub(super) const LEDGER: TableDefinition<(&str, u64), &[u8]> = TableDefinition::new("ledger");
/// (TLD, domain name, journal sequence) -> JournalEntry: every change of a delegation, written
/// in the same transaction as the change. Grouped by name so that an export can walk it beside
/// the domains and the previous publication in one merge, with flat memory.
pub(super) const ZONE_JOURNAL: TableDefinition<(&str, &str, u64), &[u8]> = TableDefinition::new("zone_journal");
/// `published:<zone>` and `attempt:<zone>` -> ZoneRun: the last publication of each zone and the
/// last attempt (which may have been refused).
pub(super) const ZONE_STATE: TableDefinition<&str, &[u8]> = TableDefinition::new("zone_state");
/// (zone, sequence) -> ZoneRun: every publication attempt, for the admin UI (bounded per zone).
pub(super) const ZONE_RUNS: TableDefinition<(&str, u64), &[u8]> = TableDefinition::new("zone_runs");
/// Domain name -> NsCheck: the last nameserver check of each domain.
pub(super) const NS_CHECKS: TableDefinition<&str, &[u8]> = TableDefinition::new("ns_checks");
/// (due time, domain name): domains whose nameservers are to be checked, by when.
pub(super) const NS_CHECK_DUE: TableDefinition<(i64, &str), ()> = TableDefinition::new("ns_check_due");
/// Domain name -> due time: the reverse of `ns_check_due`, to move an entry.
pub(super) const NS_CHECK_DUE_OF: TableDefinition<&str, i64> = TableDefinition::new("ns_check_due_of");
