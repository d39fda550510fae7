"""The command line: ``nervplayer SUBCOMMAND ...``; each subcommand is a module with ``main(argv) -> int``."""
