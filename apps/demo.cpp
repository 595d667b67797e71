int run_demo(int, char**) { return 0; }
