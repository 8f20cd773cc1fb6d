//! The command line (CONTRACT.md section 1). Parses arguments with clap, loads the configuration
//! (a bad file is one line on stderr and exit code 2), and calls into the registry.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::config::{self, Settings};
use crate::model::{Actor, Role};
use crate::registry::{NewRegistrar, Registry};
use crate::run::{Failure, init_tracing, open_registry, open_registry_with_cache, runtime, serve};
use crate::store::{ReadOnlyStore, Store, StoreError};

/// Where commands read the configuration when neither `--config` nor `NICBOX_CONFIG` says.
pub const DEFAULT_CONFIG: &str = "/etc/nicbox/nicbox.toml";

const TOP_HELP: &str = "\
Every command but `demo` reads its configuration from --config FILE, else from the file named by
the NICBOX_CONFIG environment variable, else from /etc/nicbox/nicbox.toml.

Examples:
  nicbox demo                                   # a .pt demo registry on http://127.0.0.1:8080
  nicbox check                                  # the installed /etc/nicbox/nicbox.toml
  NICBOX_CONFIG=./nicbox.toml nicbox registrar list";

#[derive(Parser)]
#[command(name = "nicbox", version, about = "A ccTLD registry in one binary", after_help = TOP_HELP)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// The command line's definition, for the man page, completions and tests.
pub fn command() -> clap::Command {
    <Cli as clap::CommandFactory>::command()
}

#[derive(Subcommand)]
enum Command {
    /// Run a demo registry for .pt with sample data (created on the first run, reused after).
    #[command(after_help = "\
Examples:
  nicbox demo
  nicbox demo --data /tmp/demo --http 127.0.0.1:8081 --whois 127.0.0.1:4344
  nicbox demo --smtp 127.0.0.1:2525     # contact-form messages to a local sink:
                                        #   python3 -m aiosmtpd -n -l 127.0.0.1:2525")]
    Demo {
        /// The demo's directory (database, configuration, credentials, certificates, zones).
        #[arg(long, default_value = "nicbox-demo", value_name = "DIR")]
        data: PathBuf,
        /// The HTTP listener (public page, admin UI, registrar API, RDAP). Default 127.0.0.1:8080.
        #[arg(long, value_name = "ADDR")]
        http: Option<String>,
        /// The WHOIS listener. Default 127.0.0.1:4343.
        #[arg(long, value_name = "ADDR")]
        whois: Option<String>,
        /// The hidden primary's DNS address (AXFR/IXFR with the demo's TSIG key). Default 127.0.0.1:5353.
        #[arg(long, value_name = "ADDR")]
        dns: Option<String>,
        /// The EPP listener (TLS, client certificates of the demo's test CA). Default 127.0.0.1:7700.
        #[arg(long, value_name = "ADDR")]
        epp: Option<String>,
        /// An SMTP server (no TLS, no authentication) the contact form delivers to, such as a
        /// local sink; without it (and without [smtp] in the demo's nicbox.toml) the form
        /// says that messages cannot be sent.
        #[arg(long, value_name = "ADDR")]
        smtp: Option<String>,
    },
    /// Serve WHOIS, HTTP (registrar API, RDAP, public pages, admin UI) and background jobs.
    #[command(after_help = "\
Example:
  nicbox serve --config /etc/nicbox/nicbox.toml
  (the Debian package runs it as the nicbox.service systemd unit)")]
    Serve {
        #[arg(long, env = "NICBOX_CONFIG", default_value = DEFAULT_CONFIG, value_name = "FILE")]
        config: PathBuf,
    },
    /// Create a new, empty registry database (never touches an existing one).
    #[command(after_help = "\
Example:
  sudo -u nicbox nicbox init --config /etc/nicbox/nicbox.toml")]
    Init {
        #[arg(long, env = "NICBOX_CONFIG", default_value = DEFAULT_CONFIG, value_name = "FILE")]
        config: PathBuf,
    },
    /// Validate the configuration and the database; exit 0 when both are sound.
    #[command(after_help = "\
Examples:
  nicbox check --config /etc/nicbox/nicbox.toml
  nicbox check --deep          # beside a running server too (through its control socket)")]
    Check {
        #[arg(long, env = "NICBOX_CONFIG", default_value = DEFAULT_CONFIG, value_name = "FILE")]
        config: PathBuf,
        /// Also recount and cross-check everything derived: counters, indexes both ways,
        /// balances against the ledger, every domain's history, poll queues, and whether the
        /// change journal explains each zone's file. One finding per line; exit 1 if any.
        #[arg(long)]
        deep: bool,
    },
    /// Registrar accounts.
    #[command(after_help = "\
Examples:
  nicbox registrar add --id ptreg --name 'Registos Exemplo, Lda.' --balance-cents 100000
  nicbox registrar list")]
    Registrar {
        #[command(subcommand)]
        command: RegistrarCommand,
    },
    /// Admin-UI users.
    #[command(after_help = "\
Example:
  nicbox user add --name maria --role support")]
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// Write a consistent copy of the database (works while the server runs).
    #[command(after_help = "\
Example:
  nicbox backup --config /etc/nicbox/nicbox.toml --out /var/backups/nicbox/nicbox-$(date +%F).redb")]
    Backup {
        #[arg(long, env = "NICBOX_CONFIG", default_value = DEFAULT_CONFIG, value_name = "FILE")]
        config: PathBuf,
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
    },
    /// Replace the database with a backup (the server must be stopped).
    #[command(after_help = "\
Example:
  systemctl stop nicbox
  sudo -u nicbox nicbox restore --config /etc/nicbox/nicbox.toml --from /var/backups/nicbox/nicbox-2026-11-22.redb")]
    Restore {
        #[arg(long, env = "NICBOX_CONFIG", default_value = DEFAULT_CONFIG, value_name = "FILE")]
        config: PathBuf,
        #[arg(long, value_name = "FILE")]
        from: PathBuf,
    },
    /// Import contacts and domains from JSON lines (migration from another registry).
    #[command(after_help = "\
Example:
  nicbox import --config /etc/nicbox/nicbox.toml export-from-old-registry.jsonl")]
    Import {
        #[arg(long, env = "NICBOX_CONFIG", default_value = DEFAULT_CONFIG, value_name = "FILE")]
        config: PathBuf,
        file: PathBuf,
    },
    /// The zones: publish them now.
    #[command(after_help = "\
Example:
  nicbox zone export --out /var/lib/nicbox/zones")]
    Zone {
        #[command(subcommand)]
        command: ZoneCommand,
    },
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell) to standard output.
    #[command(
        hide = true,
        after_help = "\
Example:
  nicbox completions bash > /usr/share/bash-completion/completions/nicbox"
    )]
    Completions { shell: clap_complete::Shell },
    /// Print the man page (roff) to standard output.
    #[command(
        hide = true,
        after_help = "\
Example:
  nicbox man | gzip -9n > /usr/share/man/man1/nicbox.1.gz"
    )]
    Man,
}

#[derive(Subcommand)]
enum ZoneCommand {
    /// Publish every zone now through the guard: writes DIR/<zone>.zone (beside a running server
    /// through its control socket, or with the server stopped). Exit 1 when the guard refuses.
    #[command(after_help = "\
Example:
  nicbox zone export --config /etc/nicbox/nicbox.toml --out /var/lib/nicbox/zones")]
    Export {
        #[arg(long, env = "NICBOX_CONFIG", default_value = DEFAULT_CONFIG, value_name = "FILE")]
        config: PathBuf,
        /// Where the zone files go (default: the configured [zone] dir).
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum RegistrarCommand {
    /// Create a registrar and print its API key (shown once).
    #[command(after_help = "\
Example:
  nicbox registrar add --id ptreg --name 'Registos Exemplo, Lda.' --email registos@ptreg.example --balance-cents 100000")]
    Add {
        #[arg(long, env = "NICBOX_CONFIG", default_value = DEFAULT_CONFIG, value_name = "FILE")]
        config: PathBuf,
        #[arg(long)]
        id: String,
        #[arg(long)]
        name: String,
        #[arg(long, default_value = "")]
        email: String,
        /// Opening balance in cents.
        #[arg(long, default_value_t = 0)]
        balance_cents: i64,
    },
    /// Credit (or with a negative amount, debit) a registrar's prepaid balance.
    #[command(after_help = "\
Example:
  nicbox registrar credit --id ptreg --amount-cents 50000 --reason 'transfer 2026-11-22'")]
    Credit {
        #[arg(long, env = "NICBOX_CONFIG", default_value = DEFAULT_CONFIG, value_name = "FILE")]
        config: PathBuf,
        #[arg(long)]
        id: String,
        #[arg(long, allow_negative_numbers = true)]
        amount_cents: i64,
        #[arg(long)]
        reason: String,
    },
    /// List registrars and balances.
    #[command(after_help = "\
Example:
  nicbox registrar list --config /etc/nicbox/nicbox.toml")]
    List {
        #[arg(long, env = "NICBOX_CONFIG", default_value = DEFAULT_CONFIG, value_name = "FILE")]
        config: PathBuf,
    },
    /// Set a registrar's EPP password: a new random one (printed once), or the contents of
    /// --password-file.
    #[command(after_help = "\
Examples:
  nicbox registrar epp-password --config nicbox.toml --id ptreg
  nicbox registrar epp-password --config nicbox.toml --id ptreg --password-file ptreg-epp.txt")]
    EppPassword {
        #[arg(long, env = "NICBOX_CONFIG", default_value = DEFAULT_CONFIG, value_name = "FILE")]
        config: PathBuf,
        #[arg(long)]
        id: String,
        /// A file holding the password (8 to 128 printable characters); else one is generated.
        #[arg(long)]
        password_file: Option<PathBuf>,
    },
    /// Pin (or unpin) a client certificate a registrar may connect to EPP with, by its PEM file
    /// or its SHA-256 fingerprint (as `openssl x509 -noout -fingerprint -sha256` prints it);
    /// with neither, list the pins.
    #[command(after_help = "\
Examples:
  nicbox registrar epp-cert --config nicbox.toml --id ptreg --add client.pem
  nicbox registrar epp-cert --config nicbox.toml --id ptreg      # list the pins")]
    EppCert {
        #[arg(long, env = "NICBOX_CONFIG", default_value = DEFAULT_CONFIG, value_name = "FILE")]
        config: PathBuf,
        #[arg(long)]
        id: String,
        /// A PEM certificate or a fingerprint to pin.
        #[arg(long)]
        add: Option<String>,
        /// A PEM certificate or a fingerprint to unpin.
        #[arg(long)]
        remove: Option<String>,
    },
}
/// A fingerprint from a PEM file's path or from its text.
fn fingerprint_arg(v: &str) -> Result<[u8; 32], Failure> {
    let path = Path::new(v);
    if path.is_file() {
        let text = std::fs::read_to_string(path)?;
        return crate::epp::certs::fingerprint_pem(&text).map_err(|e| Failure::Usage(format!("{v}: {e}")));
    }
    crate::epp::certs::parse_fingerprint(v).map_err(|e| Failure::Usage(format!("`{v}`: {e}")))
}

#[derive(Subcommand)]
enum UserCommand {
    /// Create a user and print its password (shown once).
    #[command(after_help = "\
Example:
  nicbox user add --config /etc/nicbox/nicbox.toml --name maria --role admin")]
    Add {
        #[arg(long, env = "NICBOX_CONFIG", default_value = DEFAULT_CONFIG, value_name = "FILE")]
        config: PathBuf,
        #[arg(long)]
        name: String,
        #[arg(long, value_parser = ["admin", "support"])]
        role: String,
    },
}

fn load(path: &Path) -> Result<Settings, Failure> {
    config::load(path).map_err(|e| Failure::Usage(e.to_string()))
}

pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            // clap prints help and version to stdout with success, errors to stderr with 2.
            let _ = e.print();
            return ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(2));
        }
    };
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Usage(msg)) => {
            eprintln!("nicbox: {msg}");
            ExitCode::from(2)
        }
        Err(Failure::Failed(msg)) => {
            eprintln!("nicbox: {msg}");
            ExitCode::from(1)
        }
    }
}

fn run(cli: Cli) -> Result<(), Failure> {
    match cli.command {
        Command::Demo { data, http, whois, dns, epp, smtp } => crate::demo::run(
            &data,
            &crate::demo::Listen {
                http: http.as_deref(),
                whois: whois.as_deref(),
                dns: dns.as_deref(),
                epp: epp.as_deref(),
                smtp: smtp.as_deref(),
            },
        ),
        Command::Completions { shell } => {
            clap_complete::generate(shell, &mut command(), "nicbox", &mut std::io::stdout());
            Ok(())
        }
        Command::Man => {
            clap_mangen::Man::new(command()).render(&mut std::io::stdout())?;
            Ok(())
        }
        Command::Serve { config } => {
            let settings = load(&config)?;
            init_tracing(&settings.log_level, settings.log_json);
            serve(settings)
        }
        Command::Init { config } => {
            let settings = load(&config)?;
            std::fs::create_dir_all(&settings.data_dir)?;
            Store::create(&settings.db_path())?;
            println!("created {}", settings.db_path().display());
            Ok(())
        }
        Command::Check { config, deep } => check(&config, deep),
        Command::Registrar { command } => registrar(command),
        Command::User { command: UserCommand::Add { config, name, role } } => {
            let settings = load(&config)?;
            let role = if role == "admin" { Role::Admin } else { Role::Support };
            let rt = runtime()?;
            let reg = open_registry(settings)?;
            let (u, password) = rt.block_on(reg.user_add(&name, role, Actor::System("cli".into())))?;
            reg.close();
            println!("user {} ({}) created; password (shown once): {password}", u.name, u.role.as_str());
            Ok(())
        }
        Command::Backup { config, out } => {
            let settings = load(&config)?;
            let report = backup(&settings, &out)?;
            if report.entries > 0 {
                println!(
                    "backup written to {} ({} domains, {} entries)",
                    out.display(),
                    report.domains,
                    report.entries
                );
            }
            Ok(())
        }
        Command::Restore { config, from } => restore(&config, &from),
        Command::Zone { command: ZoneCommand::Export { config, out } } => zone_export(&config, out),
        Command::Import { config, file } => {
            let settings = load(&config)?;
            let f = std::fs::File::open(&file).map_err(|e| Failure::Usage(format!("{}: {e}", file.display())))?;
            let rt = runtime()?;
            let reg = open_registry_with_cache(settings, bulk_cache_bytes())?;
            let started = std::time::Instant::now();
            let report = rt.block_on(reg.import(&f, std::io::IsTerminal::is_terminal(&std::io::stderr())))?;
            reg.close();
            for (line, why) in &report.refused {
                println!("line {line}: refused: {why}");
            }
            println!(
                "imported {} contacts and {} domains in {:.1}s; {} lines refused",
                report.contacts,
                report.domains,
                started.elapsed().as_secs_f64(),
                report.refused.len()
            );
            if report.refused.is_empty() {
                Ok(())
            } else {
                Err(Failure::Failed(format!("{} lines refused", report.refused.len())))
            }
        }
    }
}

fn registrar(command: RegistrarCommand) -> Result<(), Failure> {
    match command {
        RegistrarCommand::Add { config, id, name, email, balance_cents } => {
            let settings = load(&config)?;
            let rt = runtime()?;
            let reg = open_registry(settings)?;
            let new = NewRegistrar { id, name, email, balance_cents };
            let (r, key) = rt.block_on(reg.registrar_add(new, Actor::System("cli".into())))?;
            reg.close();
            println!("registrar {} ({}) created, balance {} cents", r.id, r.name, r.balance_cents);
            println!("API key (shown once, keep it safe): {}", key.0);
            Ok(())
        }
        RegistrarCommand::Credit { config, id, amount_cents, reason } => {
            let settings = load(&config)?;
            let rt = runtime()?;
            let reg = open_registry(settings)?;
            let r = rt.block_on(reg.registrar_credit(&id, amount_cents, &reason, Actor::System("cli".into())))?;
            reg.close();
            println!("registrar {}: balance {} cents", r.id, r.balance_cents);
            Ok(())
        }
        RegistrarCommand::EppPassword { config, id, password_file } => {
            let settings = load(&config)?;
            let given = match password_file {
                Some(p) => Some(std::fs::read_to_string(&p)?.trim_end_matches(['\r', '\n']).to_string()),
                None => None,
            };
            let rt = runtime()?;
            let reg = open_registry(settings)?;
            let pw = rt.block_on(reg.epp_set_password(&id, given.as_deref(), Actor::System("cli".into())))?;
            reg.close();
            if given.is_some() {
                println!("registrar {id}: EPP password set");
            } else {
                println!("registrar {id}: EPP password (shown once, keep it safe): {pw}");
            }
            Ok(())
        }
        RegistrarCommand::EppCert { config, id, add, remove } => {
            let settings = load(&config)?;
            let rt = runtime()?;
            let reg = open_registry(settings)?;
            let actor = Actor::System("cli".into());
            let access = match (add, remove) {
                (Some(a), None) => Some(rt.block_on(reg.epp_pin(&id, fingerprint_arg(&a)?, actor))?),
                (None, Some(r)) => Some(rt.block_on(reg.epp_unpin(&id, fingerprint_arg(&r)?, actor))?),
                (None, None) => reg.epp_access(&id)?,
                (Some(_), Some(_)) => return Err(Failure::Usage("--add or --remove, not both".into())),
            };
            reg.close();
            let pins = access.map(|a| a.fingerprints).unwrap_or_default();
            println!("registrar {id}: {} pinned client certificates", pins.len());
            for p in pins {
                println!("  {}", crate::epp::certs::fingerprint_hex(&p));
            }
            Ok(())
        }
        RegistrarCommand::List { config } => {
            let settings = load(&config)?;
            let store = ReadOnlyStore::open(&settings.db_path()).map_err(|e| Failure::Failed(e.to_string()))?;
            for r in store.read()?.registrars()? {
                println!("{}\t{}\t{} cents", r.id, r.name, r.balance_cents);
            }
            Ok(())
        }
    }
}

/// A consistent copy from one read snapshot; works beside a running server.
fn backup(settings: &Settings, out: &Path) -> Result<crate::store::BackupReport, Failure> {
    if out.exists() {
        return Err(Failure::Usage(format!("{} exists; backups never overwrite", out.display())));
    }
    match ReadOnlyStore::open(&settings.db_path()) {
        Ok(s) => Ok(s.backup_to(out)?),
        // The running server owns the file: ask it.
        Err(StoreError::Busy) => {
            let out = std::path::absolute(out)?;
            let resp =
                crate::control::request(&settings.data_dir, &crate::control::Request::Backup { out }).map_err(|e| {
                    Failure::Failed(format!(
                        "the database is busy and the server's control socket does not answer: {e}"
                    ))
                })?;
            if resp.ok {
                Ok(crate::store::BackupReport { entries: 0, domains: 0 }).inspect(|_| {
                    for l in &resp.lines {
                        println!("{l}");
                    }
                })
            } else {
                Err(Failure::Failed(resp.lines.join("; ")))
            }
        }
        // A file that was not closed cleanly needs a repair, which only a writer may do; with no
        // server running, open it for writing.
        Err(StoreError::Db(_)) => Ok(Store::open(&settings.db_path())?.backup_to(out)?),
        Err(e) => Err(e.into()),
    }
}

fn zone_export(config: &Path, out: Option<PathBuf>) -> Result<(), Failure> {
    let settings = load(config)?;
    let out = out.map(|o| std::path::absolute(&o)).transpose()?;
    let lines = match Registry::open(settings.clone()) {
        Ok(reg) => {
            let rt = runtime()?;
            let result = rt.block_on(crate::zone::publish(&reg, out, None));
            reg.close();
            let runs = result.map_err(|e| match e {
                crate::zone::ExportError::Config(m) => Failure::Usage(m),
                other => Failure::Failed(other.to_string()),
            })?;
            let refused = runs.iter().any(|r| r.outcome.is_refusal());
            (runs.iter().map(crate::zone::run_line).collect::<Vec<_>>(), !refused)
        }
        Err(StoreError::Busy) => {
            let resp = crate::control::request(&settings.data_dir, &crate::control::Request::ZoneExport { out })
                .map_err(|e| {
                    Failure::Failed(format!(
                        "the database is busy and the server's control socket does not answer: {e}"
                    ))
                })?;
            (resp.lines, resp.ok)
        }
        Err(e) => return Err(Failure::Failed(e.to_string())),
    };
    for l in &lines.0 {
        println!("{l}");
    }
    if lines.1 {
        Ok(())
    } else {
        Err(Failure::Failed(
            "the publication guard refused a zone; the previous zone stays published (see above)".into(),
        ))
    }
}

fn restore(config: &Path, from: &Path) -> Result<(), Failure> {
    let settings = load(config)?;
    let n = crate::store::verify_file(from)
        .map_err(|e| Failure::Failed(format!("{} is not a usable backup: {e}", from.display())))?;
    let db = settings.db_path();
    if db.exists() {
        // Opening for writing fails while a server holds the file.
        match Store::open(&db) {
            Ok(s) => drop(s),
            Err(StoreError::Busy) => {
                return Err(Failure::Failed("the server is running: stop it before restoring".into()));
            }
            Err(_) => {} // a damaged database is exactly what a restore replaces
        }
    }
    std::fs::create_dir_all(&settings.data_dir)?;
    let tmp = db.with_extension("restoring");
    std::fs::copy(from, &tmp)?;
    std::fs::File::open(&tmp)?.sync_all()?;
    if db.exists() {
        let keep = db.with_extension(format!("before-restore-{}", std::process::id()));
        std::fs::rename(&db, &keep)?;
        println!("previous database kept as {}", keep.display());
    }
    std::fs::rename(&tmp, &db)?;
    println!("restored {} ({n} domains) into {}", from.display(), db.display());
    Ok(())
}

fn check(config: &Path, deep: bool) -> Result<(), Failure> {
    let settings = load(config)?;
    println!(
        "configuration: ok ({} TLDs: {})",
        settings.tlds.len(),
        settings.tlds.iter().map(|t| t.name.as_str()).collect::<Vec<_>>().join(", ")
    );
    for t in &settings.policy.tlds {
        if t.profile.delegation_check != crate::policy::DelegationCheck::Off && settings.zone.check_resolver.is_none() {
            println!(
                "configuration: note: .{} checks nameservers ({}) but [zone.check] resolver is not set: nameservers without glue cannot be checked and fail",
                t.tld,
                t.profile.delegation_check.as_str()
            );
        }
        if settings.tld(&t.tld).is_some_and(|s| s.zone.nameservers.is_empty()) {
            println!("configuration: note: .{} has no [tld.zone] nameservers: its zone cannot be published", t.tld);
        }
    }
    let policy = settings.policy.clone();
    // The store must outlive the read transaction.
    let (mut ro, mut rw) = (None, None);
    let read = match ReadOnlyStore::open(&settings.db_path()) {
        Ok(s) => {
            let r = s.read()?;
            ro = Some(s);
            r
        }
        Err(StoreError::Busy) => {
            let req = if deep { crate::control::Request::CheckDeep } else { crate::control::Request::Check };
            let resp = crate::control::request(&settings.data_dir, &req).map_err(|e| {
                Failure::Failed(format!("the database is busy and the server's control socket does not answer: {e}"))
            })?;
            for l in &resp.lines {
                println!("{l}");
            }
            return if resp.ok { Ok(()) } else { Err(Failure::Failed("problems in the database".into())) };
        }
        Err(StoreError::Db(_)) => {
            let s = Store::open(&settings.db_path())?;
            let r = s.read()?;
            rw = Some(s);
            r
        }
        Err(e) => return Err(Failure::Failed(e.to_string())),
    };
    if deep {
        let zone_snap = match (&ro, &rw) {
            (Some(s), _) => s.read()?,
            (_, Some(s)) => s.read()?,
            _ => unreachable!("one of the stores is open"),
        };
        let rep = crate::deep::run(&settings, &read, zone_snap)?;
        for l in &rep.summary {
            println!("{l}");
        }
        for f in &rep.findings {
            println!("finding: {f}");
        }
        return if rep.findings.is_empty() {
            Ok(())
        } else {
            Err(Failure::Failed(format!("{} findings in the database", rep.findings.len())))
        };
    }
    let problems = read.audit(&|d| crate::registry::counter_keys(&policy, d))?;
    if problems.is_empty() {
        println!(
            "database: ok ({} domains, schema version {})",
            read.count_domains()?,
            read.schema_version()?.unwrap_or(0)
        );
        for line in crate::registry::review_lines(&crate::registry::review_records(&policy, &read)?) {
            println!("{line}");
        }
        Ok(())
    } else {
        for p in &problems {
            println!("database: {p}");
        }
        Err(Failure::Failed(format!("{} problems in the database", problems.len())))
    }
}

/// The page cache for `nicbox import`: a quarter of the memory available, between 256 MiB and
/// 2 GiB (at 2,000,000 domains a 2 GiB cache took a third off the import's time: the writer
/// revisits its dirty pages, which serving does not).
fn bulk_cache_bytes() -> usize {
    let available = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find_map(|l| l.strip_prefix("MemAvailable:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<usize>().ok())
        })
        .map(|kb| kb * 1024)
        .unwrap_or(0);
    (available / 4).clamp(256 << 20, 2 << 30)
}
