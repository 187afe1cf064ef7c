//! `faultline`: the server binary and its admin subcommands.

use anyhow::Context;
use clap::Parser;
use server::config::{Cli, Command, ServeArgs};
use server::{commands, connect, router, telemetry};

/// Under ingest load the system allocator cost about a tenth of the machine (its
/// `malloc`/`free` and their consolidation); mimalloc's per-thread pages cost a fraction.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// How long (ms) mimalloc keeps freed memory before handing it back to the system. Its
/// default of a second held ~20 MB more at peak under ingest load once the ingest writers ran
/// on threads of their own (146-160 MB against 122-131 MB); with 10 ms the throughput
/// measured the same.
const ALLOCATOR_PURGE_DELAY_MS: std::ffi::c_long = 10;
/// `mi_option_purge_delay` in mimalloc.h (v2 and v3); the Rust bindings do not name it.
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

fn main() -> std::process::ExitCode {
    // An operator's MIMALLOC_PURGE_DELAY wins (mimalloc reads it itself).
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
        // SAFETY: sets one of mimalloc's global options (an atomic store) before any thread
        // but this one exists; the option is only read by mimalloc itself.
        unsafe {
            libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, ALLOCATOR_PURGE_DELAY_MS);
        }
    }
    let cli = Cli::parse();
    telemetry::init(cli.global.log_format);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: starting the async runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let url = cli
        .global
        .database_url
        .clone()
        .context("DATABASE_URL is not set (or pass --database-url); `cargo xtask run` starts a private PostgreSQL for you")?;
    let pool = connect(&url, cli.global.db_max_connections).await?;
    match cli
        .command
        .unwrap_or_else(|| Command::Serve(Box::default()))
    {
        Command::Serve(args) => serve(pool, *args).await,
        Command::Migrate => {
            commands::migrate(&pool).await?;
            eprintln!("migrations applied");
            Ok(())
        }
        Command::CreateTenant { slug, name } => {
            let id = commands::create_tenant(&pool, &slug, &name).await?;
            println!("{id}");
            Ok(())
        }
        Command::CreateUser {
            email,
            tenant,
            role,
            super_admin,
        } => {
            let password = commands::read_password()?;
            let id = commands::create_user(
                &pool,
                &email,
                tenant.as_deref(),
                &role,
                super_admin,
                &password,
            )
            .await?;
            println!("{id}");
            Ok(())
        }
        Command::SeedDemo { service_url } => {
            let password = commands::read_password()?;
            let key = commands::seed_demo(&pool, &service_url, &password).await?;
            println!("{key}");
            Ok(())
        }
        Command::CreateApiKey {
            tenant,
            name,
            scopes,
        } => {
            let key = commands::create_api_key(&pool, &tenant, &name, &scopes).await?;
            println!("{key}");
            Ok(())
        }
    }
}

async fn serve(pool: sqlx::PgPool, args: ServeArgs) -> anyhow::Result<()> {
    commands::migrate(&pool).await?;
    if let Some(admin) =
        commands::ensure_super_admin(&pool, &args.admin_email, args.admin_password.as_deref())
            .await?
    {
        match admin.generated_password {
            Some(password) => println!(
                "\n  Created the super-admin {}\n  Generated password (shown only now): {password}\n  Set FAULTLINE_ADMIN_PASSWORD before the first start to choose it instead.\n",
                admin.email
            ),
            None => println!(
                "\n  Created the super-admin {} with FAULTLINE_ADMIN_PASSWORD.\n",
                admin.email
            ),
        }
    }
    let listener = tokio::net::TcpListener::bind(args.bind)
        .await
        .with_context(|| {
            format!(
                "binding {} (is another server running? set FAULTLINE_BIND)",
                args.bind
            )
        })?;
    let addr = listener.local_addr()?;
    let options = server::leptos_options(addr, &args.site_root);
    let state = server::state(pool, args.settings(), options);
    let sessions = router::SessionOptions {
        secure: args.secure_cookies,
        inactivity_days: args.session_days,
    };
    println!("Faultline is serving on http://{addr} — sign in at http://{addr}/login");
    tracing::info!(%addr, "listening");
    server::serve_on(listener, state, sessions, server::shutdown_signal()).await
}
