// relayctl: the service center's command line. All behaviour lives in src/cli.
#include "cli/relayctl.h"

int main(int argc, char** argv) {
  return printrelay::cli::run_relayctl(argc, argv, printrelay::cli::process_console());
}
