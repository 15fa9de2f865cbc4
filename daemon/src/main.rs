fn main() -> std::process::ExitCode {
    orgid::cli::main()
}
