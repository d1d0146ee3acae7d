#include "cli/run_config.h"

#include <yaml-cpp/yaml.h>

#include <set>

#include "common/fs.h"

namespace lattice::cli {
namespace {

// Keeps the source name and turns yaml-cpp's exceptions into our errors.
class ConfigReader {
 public:
  explicit ConfigReader(std::string source) : source_(std::move(source)) {}

  Error Bad(const YAML::Node& node, const std::string& key, const std::string& what) const {
    int line = node.Mark().line >= 0 ? node.Mark().line + 1 : 0;
    return Error(ErrorCode::kInvalidArgument,
                 source_ + (line ? ":" + std::to_string(line) : "") + ": '" + key + "' " + what, key);
  }

  template <typename T>
  Status Scalar(const YAML::Node& node, const std::string& key, T* out, const char* expected) const {
    if (!node.IsScalar()) return Bad(node, key, std::string("must be ") + expected);
    try {
      *out = node.as<T>();
    } catch (const YAML::Exception&) {
      return Bad(node, key, std::string("must be ") + expected + ", not '" + node.Scalar() + "'");
    }
    return OkStatus();
  }

  Status Strings(const YAML::Node& node, const std::string& key, std::vector<std::string>* out) const {
    if (!node.IsSequence()) return Bad(node, key, "must be a list of strings");
    out->clear();
    for (const auto& item : node) {
      if (!item.IsScalar()) return Bad(item, key, "must be a list of strings");
      out->push_back(item.Scalar());
    }
    return OkStatus();
  }

 private:
  std::string source_;
};

// A YAML list of values becomes the sweep expression "[a, b]"; strings are
// quoted so they stay strings.
Result<std::string> ExpressionOf(const ConfigReader& r, const YAML::Node& node, const std::string& key) {
  if (node.IsScalar()) return node.Scalar();
  if (!node.IsSequence()) return r.Bad(node, key, "must be a sweep expression or a list of values");
  std::string expr = "[";
  for (size_t i = 0; i < node.size(); ++i) {
    const YAML::Node& v = node[i];
    if (!v.IsScalar()) return r.Bad(v, key, "list values must be numbers, strings or booleans");
    if (i) expr += ", ";
    const std::string& s = v.Scalar();
    bool bare = v.Tag() != "!" && !s.empty() &&
                (s == "true" || s == "false" || s.find_first_not_of("0123456789+-.eE") == std::string::npos);
    if (bare) {
      expr += s;
    } else {
      expr += "'";
      for (char c : s) expr += (c == '\'' || c == '\\') ? std::string("\\") + c : std::string(1, c);
      expr += "'";
    }
  }
  return expr + "]";
}

}  // namespace

Result<RunOptions> ParseRunConfig(const std::string& text, const std::filesystem::path& base_dir,
                                  const std::string& source_name) {
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    return Error(ErrorCode::kInvalidArgument, source_name + ":" + std::to_string(e.mark.line + 1) +
                                                  ": not valid YAML: " + e.msg);
  }
  ConfigReader r(source_name);
  RunOptions o;
  if (root.IsNull()) return o;
  if (!root.IsMap()) return Error(ErrorCode::kInvalidArgument, source_name + ": must be a mapping of keys to values");
  std::vector<std::string> parameter_args;
  for (const auto& kv : root) {
    const std::string key = kv.first.Scalar();
    const YAML::Node& v = kv.second;
    Status st = OkStatus();
    if (key == "name") st = r.Scalar(v, key, &o.name, "a string");
    else if (key == "description") st = r.Scalar(v, key, &o.description, "a string");
    else if (key == "script") {
      std::string script;
      st = r.Scalar(v, key, &script, "a path");
      if (st.ok()) o.script = std::filesystem::path(script).is_absolute() ? script : (base_dir / script).string();
    } else if (key == "args") st = r.Strings(v, key, &o.args);
    else if (key == "parameters") {
      if (!v.IsMap()) return r.Bad(v, key, "must map parameter names to sweep expressions or lists");
      for (const auto& p : v) {
        std::string name = p.first.Scalar();
        LATTICE_ASSIGN_OR_RETURN(std::string expr, ExpressionOf(r, p.second, "parameters." + name));
        parameter_args.push_back("--" + name);
        parameter_args.push_back(expr);
      }
    } else if (key == "resources") {
      if (!v.IsMap()) return r.Bad(v, key, "must be a mapping with cpus, memory and gpus");
      for (const auto& res : v) {
        std::string k = res.first.Scalar();
        if (k == "cpus") st = r.Scalar(res.second, "resources.cpus", &o.cpus, "a number");
        else if (k == "memory") st = r.Scalar(res.second, "resources.memory", &o.memory, "a size like 4G");
        else if (k == "gpus") st = r.Scalar(res.second, "resources.gpus", &o.gpus, "a whole number");
        else return r.Bad(res.first, "resources." + k, "is not a known key (cpus, memory, gpus)");
        if (!st.ok()) return st.error();
      }
    } else if (key == "env") {
      if (!v.IsMap()) return r.Bad(v, key, "must map names to values");
      for (const auto& e : v) {
        if (!e.second.IsScalar()) return r.Bad(e.second, "env." + e.first.Scalar(), "must be a string");
        o.env.push_back(e.first.Scalar() + "=" + e.second.Scalar());
      }
    } else if (key == "strategy") st = r.Scalar(v, key, &o.strategy, "grid_search or random_search");
    else if (key == "trials") {
      uint64_t t = 0;
      st = r.Scalar(v, key, &t, "a positive whole number");
      o.trials = t;
    } else if (key == "seed") {
      uint64_t s = 0;
      st = r.Scalar(v, key, &s, "a whole number");
      o.seed = s;
    } else if (key == "max_experiments") st = r.Scalar(v, key, &o.max_experiments, "a whole number");
    else if (key == "max_parallel") st = r.Scalar(v, key, &o.max_parallel, "a whole number");
    else if (key == "priority") st = r.Scalar(v, key, &o.priority, "a whole number");
    else if (key == "max_cost") st = r.Scalar(v, key, &o.max_cost, "an amount like 50");
    else if (key == "max_duration") st = r.Scalar(v, key, &o.max_duration, "a duration like 2h");
    else if (key == "nodes") st = r.Scalar(v, key, &o.nodes, "a whole number of nodes");
    else if (key == "launcher") st = r.Scalar(v, key, &o.launcher, "per-gpu, per-node or torchrun");
    else if (key == "cluster") st = r.Scalar(v, key, &o.cluster, "a cluster name");
    else if (key == "instance_type") st = r.Scalar(v, key, &o.instance_type, "a name like 8_v100_32gb");
    else if (key == "max_restarts") st = r.Scalar(v, key, &o.max_restarts, "a whole number");
    else if (key == "grace") st = r.Scalar(v, key, &o.grace, "a duration like 30s");
    else if (key == "python") st = r.Scalar(v, key, &o.python, "a path");
    else if (key == "requirements") {
      std::string file;
      st = r.Scalar(v, key, &file, "a path");
      if (st.ok()) o.requirements = std::filesystem::path(file).is_absolute() ? file : (base_dir / file).string();
    } else if (key == "setup") st = r.Scalar(v, key, &o.setup, "a shell command");
    else if (key == "system_site_packages") st = r.Scalar(v, key, &o.system_site_packages, "true or false");
    else
      return r.Bad(kv.first, key,
                   "is not a known key (name, description, script, args, parameters, resources, env, strategy, "
                   "trials, seed, max_experiments, max_parallel, priority, max_cost, max_duration, nodes, launcher, "
                   "instance_type, max_restarts, "
                   "grace, python, requirements, setup, system_site_packages)");
    if (!st.ok()) return st.error();
  }
  o.parameter_args = std::move(parameter_args);
  return o;
}

Result<RunOptions> LoadRunConfig(const std::filesystem::path& file) {
  LATTICE_ASSIGN_OR_RETURN(std::string text, fs::ReadFile(file));
  std::error_code ec;
  auto dir = std::filesystem::absolute(file, ec).parent_path();
  return ParseRunConfig(text, dir, file.string());
}

}  // namespace lattice::cli
