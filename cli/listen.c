#include "cli.h"
int cli_listen(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    return 0;
}
