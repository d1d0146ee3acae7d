// The one main(): everything else lives in the layers under src/.
#include "cli/cli_app.h"

int main(int argc, char** argv) { return lattice::cli::Main(argc, argv); }
