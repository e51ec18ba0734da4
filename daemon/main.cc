// The sotto executable. All logic lives in daemon/; see daemon/cli.h.

#include "daemon/cli.h"

int main(int argc, char** argv) { return sotto::daemon::RunCli(argc, argv); }
