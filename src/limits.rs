//! Every fixed bound of nicbox in one place; bounds an operator may tune live in the configuration.
//!
//! Names carry their units. A bound exists so that bad or hostile input gets a clear error and
//! never exhausts memory, a task or the writer.

/// Names in one availability check (CONTRACT.md: up to 50).
pub const CHECK_NAMES_MAX: usize = 50;
/// Page size of list calls: default and ceiling.
pub const PAGE_SIZE_DEFAULT: usize = 100;
pub const PAGE_SIZE_MAX: usize = 500;
/// History entries returned by one call.
pub const HISTORY_ENTRIES_MAX: usize = 1_000;
/// Bytes of a registrar API request body.
pub const API_BODY_BYTES_MAX: usize = 64 * 1024;
/// Nesting depth of a JSON body (objects and arrays).
pub const JSON_DEPTH_MAX: usize = 8;
/// Time to answer one HTTP request, after which it is answered 503.
pub const HTTP_REQUEST_TIMEOUT_MS: u64 = 15_000;
/// HTTP requests in flight at once, over all clients.
pub const HTTP_CONCURRENCY_MAX: usize = 1_024;
/// Bytes of a domain name as typed (U-labels take up to 4 bytes a character).
pub const NAME_INPUT_BYTES_MAX: usize = 1_024;
/// Bytes of one contact text field (name, organization, a street line, city...).
pub const CONTACT_FIELD_BYTES_MAX: usize = 255;
/// Street lines of a contact address.
pub const STREET_LINES_MAX: usize = 3;
/// Bytes of an email address and a phone number.
pub const EMAIL_BYTES_MAX: usize = 254;
pub const PHONE_BYTES_MAX: usize = 20;
/// Hard ceiling of nameservers per domain (a profile may set fewer).
pub const NAMESERVERS_MAX: usize = 13;
/// Glue addresses per nameserver.
pub const ADDRESSES_PER_NAMESERVER_MAX: usize = 8;
/// DS records per domain.
pub const DS_RECORDS_MAX: usize = 8;
/// Bytes of an Idempotency-Key header.
pub const IDEMPOTENCY_KEY_BYTES_MAX: usize = 255;
/// Commands the writer applies in one transaction (group commit).
pub const WRITER_BATCH_MAX: usize = 512;
/// Commands waiting for the writer before submitters wait for room.
pub const WRITER_QUEUE_MAX: usize = 4_096;
/// Wrong API keys from one address before it is refused (429) for the rest of the window.
pub const API_BAD_KEYS_MAX: u32 = 20;
pub const API_BAD_KEYS_WINDOW: std::time::Duration = std::time::Duration::from_secs(10 * 60);
/// Bytes of one line of an import file.
pub const IMPORT_LINE_BYTES_MAX: usize = 64 * 1024;
/// Lines of an import applied as one writer command, and such chunks in flight: the writer
/// commits what is waiting together, so at most (1 + in flight) chunks per transaction.
pub const IMPORT_CHUNK_LINES: usize = 20_000;
pub const IMPORT_CHUNKS_IN_FLIGHT: usize = 2;
/// Length of generated auth codes (characters from a 56-symbol alphabet: about 93 bits).
pub const AUTH_CODE_CHARS: usize = 16;
/// Bytes of an auth code a registrar may send.
pub const AUTH_CODE_BYTES_MAX: usize = 64;
/// Registrar ids and contact handles: characters.
pub const REGISTRAR_ID_CHARS_MAX: usize = 32;
pub const HANDLE_CHARS_MAX: usize = 32;
/// Seconds the server waits for requests in flight at shutdown.
pub const SHUTDOWN_GRACE_SECS: u64 = 10;
/// Poll messages kept per registrar (the oldest is dropped past it), and returned per call.
pub const POLL_MESSAGES_MAX: usize = 10_000;
pub const POLL_PAGE_MAX: usize = 50;
/// Seconds between runs of the lifecycle job (it also runs when a lab clock moves).
pub const LIFECYCLE_INTERVAL_SECS: u64 = 60;
/// A background job that fails waits twice as long before each next attempt, up to this; its
/// error is logged at most once per `JOB_ERROR_LOG_EVERY` (`jobs::Failures`).
pub const JOB_BACKOFF_MAX: std::time::Duration = std::time::Duration::from_secs(10 * 60);
pub const JOB_ERROR_LOG_EVERY: std::time::Duration = std::time::Duration::from_secs(60);
/// Nameserver check: time to wait for one answer (UDP or TCP), the whole check of one domain,
/// queries in flight over all checks, bytes of an answer read, domains checked per round.
pub const NS_CHECK_QUERY_TIMEOUT_MS: u64 = 2_000;
pub const NS_CHECK_DOMAIN_BUDGET_MS: u64 = 15_000;
pub const NS_CHECK_CONCURRENCY_MAX: usize = 32;
pub const NS_CHECK_ANSWER_BYTES_MAX: usize = 16 * 1024;
pub const NS_CHECK_BATCH_MAX: usize = 256;
/// NOTIFY (RFC 1996): tries per target and the wait for each answer.
pub const NOTIFY_TRIES: u32 = 5;
pub const NOTIFY_TIMEOUT_MS: u64 = 2_000;
/// Time a post-publication reload command may run before it is killed.
pub const RELOAD_TIMEOUT_SECS: u64 = 60;
/// Names of each kind of difference kept as a sample in a publication's record.
pub const ZONE_SAMPLE_NAMES: usize = 20;
/// Bytes of one line of a zone file read back for comparison.
pub const ZONE_LINE_BYTES_MAX: usize = 64 * 1024;

/// Free bytes the database's file system must keep for a write transaction to begin
/// (`store::space`): a commit writes a few MiB at most, so a full disk refuses writes before
/// redb meets the error (which would stop writes until a restart).
pub const DISK_RESERVE_BYTES: u64 = 32 * 1024 * 1024;
