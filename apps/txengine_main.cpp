#include <cstdio>
int run_demo(int, char**);
int main(int argc, char** argv) { return run_demo(argc, argv); }
