/*
 * scrim: a privacy-first capture proxy for session replay and form
 * analytics. main() only dispatches to a subcommand (proxy/cmd.h).
 */
#include "cmd.h"

#include "crypto/keyfile.h"

#include <stdio.h>
#include <string.h>

static const char usage[] = "usage: scrim <command> [options]\n"
                            "\n"
                            "commands:\n"
                            "  serve    run the proxy\n"
                            "  redact   mask one payload offline, exactly as the proxy would\n"
                            "  check    validate a config file and print a summary\n"
                            "  keys     make tenant key pairs, pseudonym keys and API keys\n"
                            "  audit    verify the signed audit log, make and check its proofs\n"
                            "  decrypt  print a tenant's stored records (needs its secret key)\n"
                            "  version  print the version\n"
                            "\n"
                            "Run 'scrim <command> --help' for a command's options.\n";

int main(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        fputs(usage, argc < 2 ? stderr : stdout);
        return argc < 2 ? EXIT_USAGE : EXIT_OK;
    }
    if (keyfile_crypto_init() != 0) {
        fputs("scrim: cannot initialise libsodium\n", stderr);
        return EXIT_USAGE;
    }
    if (strcmp(argv[1], "serve") == 0)
        return cmd_serve(argc - 1, argv + 1);
    if (strcmp(argv[1], "redact") == 0)
        return cmd_redact(argc - 1, argv + 1);
    if (strcmp(argv[1], "check") == 0)
        return cmd_check(argc - 1, argv + 1);
    if (strcmp(argv[1], "keys") == 0)
        return cmd_keys(argc - 1, argv + 1);
    if (strcmp(argv[1], "audit") == 0)
        return cmd_audit(argc - 1, argv + 1);
    if (strcmp(argv[1], "decrypt") == 0)
        return cmd_decrypt(argc - 1, argv + 1);
    if (strcmp(argv[1], "version") == 0 || strcmp(argv[1], "--version") == 0) {
        puts("scrim " SCRIM_VERSION);
        return EXIT_OK;
    }
    fprintf(stderr, "scrim: unknown command '%s'\n\n%s", argv[1], usage);
    return EXIT_USAGE;
}
