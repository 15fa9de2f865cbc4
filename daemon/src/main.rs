// Many small strings (names, DN parts, attribute names): mimalloc keeps their overhead and the
// process's memory lower than the system allocator does on large syncs.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    orgid::cli::main()
}
