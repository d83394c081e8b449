//! The group commit's writer alone, on SQLite with `synchronous = FULL`: what one jwt-bearer
//! exchange writes (its assertion's replay key, a refresh token family, an access and a refresh
//! token in one row; with `PAIRED=0` in two rows, as the server wrote them before), committed by
//! `SUBMITTERS` threads in a closed loop so batches form as they do in the server, over a table
//! of `LIVE` live grants. Reports the writer's wall and CPU time, and the WAL pages written, per
//! request, from the writer's own counters (`CommitStats`); then the cost of deleting expired
//! grants (`purge_expired`) per grant.
//!
//! Run: `cargo bench -p grantor --bench writer` (env `LIVE`, default 500000; `SUBMITTERS`,
//! default 16; `PAIRED`, default 1; `SECONDS`, default 10; `DIR`, where the database goes,
//! default a temporary directory on the same disk as `target/`).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use grantor::blocking::OnBlockingThread;
use grantor::secrets::{hash_secret, random_token};
use grantor::store::{
    FamilyOrigin, GroupCommitter, NewClient, NewFamily, NewToken, ReplayKey, ReplayKind, Store,
    StoreOptions, WriteOp, KIND_ACCESS, KIND_REFRESH,
};
use grantor::token_ids::{new_opaque_token, paired_opaque_token, TOKEN_RANDOM_BYTES};

const TENANT: &str = "carbon.super";
const CLIENT: &str = "bench-client";
const ISSUER: &str = "https://idp.example.com";

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The writes of one jwt-bearer exchange at `now` whose rows all expire at `expires_at` (its
/// access token a minute earlier), with ids made as the server makes them: family ids from one
/// process-wide sequence, token ids from the clock in milliseconds, the refresh token's the
/// access token's when `paired`.
fn exchange_writes(now: i64, expires_at: i64, paired: bool) -> Vec<WriteOp> {
    static SEQUENCE: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let sequence = SEQUENCE.fetch_add(1, Ordering::Relaxed);
    let family_id = format!(
        "{:010x}{:010x}.{}",
        now,
        sequence & 0xff_ffff_ffff,
        random_token(12).unwrap()
    );
    let (_, access_key) =
        new_opaque_token(now * 1000 + grantor::clock::subsecond_millis()).unwrap();
    let refresh_key = match paired {
        true => {
            let mut random = [0u8; TOKEN_RANDOM_BYTES];
            openssl::rand::rand_bytes(&mut random).unwrap();
            paired_opaque_token(&access_key, &random).1
        }
        false => {
            new_opaque_token(now * 1000 + grantor::clock::subsecond_millis())
                .unwrap()
                .1
        }
    };
    let token = |key, kind, expires_at| NewToken {
        key,
        kind,
        tenant_domain: TENANT.into(),
        client_id: CLIENT.into(),
        subject: Some("alice@example.com".into()),
        scope: "openid profile".into(),
        issued_at: now,
        expires_at,
        family_id: Some(family_id.clone()),
        claims: Some(r#"{"email":"alice@example.com","groups":["eng"]}"#.into()),
        paired: None,
    };
    let access = token(access_key, KIND_ACCESS, expires_at - 60);
    let refresh = token(refresh_key, KIND_REFRESH, expires_at);
    let tokens = access
        .together(refresh)
        .into_iter()
        .map(WriteOp::InsertToken);
    let mut writes = vec![
        WriteOp::RecordReplayKey {
            key: ReplayKey {
                tenant_domain: TENANT.into(),
                kind: ReplayKind::GrantAssertion {
                    issuer: ISSUER.into(),
                },
                jti: random_token(16).unwrap(),
                expires_at,
            },
            now,
        },
        WriteOp::InsertFamily(NewFamily {
            family_id: family_id.clone(),
            tenant_domain: TENANT.into(),
            client_id: CLIENT.into(),
            origin: FamilyOrigin {
                identity_provider: Some((ISSUER.into(), 1)),
                via_service_account: false,
            },
            started_at: now,
            expires_at,
        }),
    ];
    writes.extend(tokens);
    writes
}

#[derive(Clone, Copy)]
struct Reading {
    batches: u64,
    jobs: u64,
    busy_us: u64,
    cpu_us: u64,
    wal_frames: u64,
}

fn read(writer: &GroupCommitter) -> Reading {
    let stats = writer.stats();
    Reading {
        batches: stats.batches.load(Ordering::Relaxed),
        jobs: stats.jobs.load(Ordering::Relaxed),
        busy_us: stats.busy_us.load(Ordering::Relaxed),
        cpu_us: stats.cpu_us.load(Ordering::Relaxed),
        wal_frames: writer.wal_frames().unwrap_or(0),
    }
}

fn on() -> OnBlockingThread {
    OnBlockingThread::outside_runtime().expect("no runtime here")
}

fn main() {
    let live = env_number("LIVE", 500_000);
    let submitters = env_number("SUBMITTERS", 16);
    let seconds = env_number("SECONDS", 10);
    let paired = env_number("PAIRED", 1) != 0;
    let dir = match std::env::var("DIR") {
        Ok(dir) => tempfile::tempdir_in(dir).unwrap(),
        Err(_) => tempfile::tempdir_in(concat!(env!("CARGO_MANIFEST_DIR"), "/../target")).unwrap(),
    };
    let url = format!("sqlite://{}/writer.db", dir.path().display());
    let store = Store::open(&url, &StoreOptions::default(), TENANT).unwrap();
    store
        .add_client(
            &NewClient {
                tenant_domain: TENANT.into(),
                name: "bench".into(),
                client_id: CLIENT.into(),
                secret_hash: hash_secret("secret"),
                grant_types: vec![],
                scopes: vec![],
                access_token_lifetime: None,
                refresh_token_lifetime: None,
                token_format: "opaque".into(),
                audiences: Vec::new(),
                certificates: Vec::new(),
                jwks_uri: None,
                redirect_uris: Vec::new(),
                post_logout_redirect_uris: Vec::new(),
                consent: grantor::store::CONSENT_REQUIRED.into(),
            },
            0,
        )
        .unwrap();
    let writer = Arc::new(GroupCommitter::start(&store, 1).unwrap());
    let now = grantor::clock::now_unix();

    // Live grants, and as many again already expired for the deletion run.
    let filled = Instant::now();
    for expires_at in [now + 30 * 86_400, now - 1] {
        let mut left = live;
        while left > 0 {
            let n = left.min(1_000);
            let ops = (0..n)
                .flat_map(|_| exchange_writes(now, expires_at, paired))
                .collect();
            writer.commit_blocking(on(), ops).unwrap();
            left -= n;
        }
    }
    eprintln!(
        "filled: {live} live and {live} expired grants in {:.1} s",
        filled.elapsed().as_secs_f64()
    );
    // Let the checkpointer catch up before measuring.
    std::thread::sleep(Duration::from_secs(2));

    let stop = Arc::new(AtomicBool::new(false));
    let before = read(&writer);
    let started = Instant::now();
    let threads: Vec<_> = (0..submitters)
        .map(|_| {
            let (writer, stop) = (writer.clone(), stop.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let now = grantor::clock::now_unix();
                    writer
                        .commit_blocking(on(), exchange_writes(now, now + 3_600, paired))
                        .unwrap();
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_secs(seconds));
    stop.store(true, Ordering::Relaxed);
    for thread in threads {
        thread.join().unwrap();
    }
    let elapsed = started.elapsed();
    let after = read(&writer);
    let requests = (after.jobs - before.jobs) as f64;
    println!(
        "writer, {live} live grants, {submitters} submitters: {:.0} requests/s; batches of {:.1}; \
         per request: {:.1} us wall, {:.1} us cpu, {:.2} wal pages",
        requests / elapsed.as_secs_f64(),
        requests / (after.batches - before.batches) as f64,
        (after.busy_us - before.busy_us) as f64 / requests,
        (after.cpu_us - before.cpu_us) as f64 / requests,
        (after.wal_frames - before.wal_frames) as f64 / requests,
    );

    // Deleting the expired grants, in the server's purge steps.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let before = read(&writer);
    let mut rows = 0;
    loop {
        let purged = runtime
            .block_on(writer.purge_expired(grantor::clock::now_unix(), 1_000))
            .unwrap();
        if purged == 0 {
            break;
        }
        rows += purged;
    }
    let after = read(&writer);
    println!(
        "deletion of {live} expired grants ({rows} rows): per grant {:.1} us wall, {:.1} us cpu, \
         {:.2} wal pages",
        (after.busy_us - before.busy_us) as f64 / live as f64,
        (after.cpu_us - before.cpu_us) as f64 / live as f64,
        (after.wal_frames - before.wal_frames) as f64 / live as f64,
    );
}
