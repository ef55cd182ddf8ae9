fn main() -> std::process::ExitCode {
    kubewiz::cli::main()
}
