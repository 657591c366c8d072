// ssm-bench: the benchmark alone, linked against ssm_ops only (the same program as `ssm bench`).
namespace ssm::bench {
int main(int argc, char** argv);
}
int main(int argc, char** argv) { return ssm::bench::main(argc, argv); }
