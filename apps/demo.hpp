#pragma once
// `txengine demo`: a mixed workload on the embedded defaults, with the simulated channel
// misbehaving, then the invariant checks. Returns the process exit code.
namespace txengine {
int run_demo(int argc, char** argv);
}
