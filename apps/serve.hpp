#pragma once

namespace txengine {

//! `txengine serve [--listen HOST:PORT] [--keys FILE] ...`: runs the network server until
//! SIGINT or SIGTERM.
int run_serve(int argc, char** argv);

}  // namespace txengine
