// Tests of the `sddb` command, run as a separate process on temporary folders, and of the
// Debian control-file reader behind the demo (examples/debian_control.h).

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

// The reader is example code outside the sddb library; compiling it in keeps this test's link
// line the one every unit test has (tests/CMakeLists.txt).
#include "../../examples/debian_control.cc"
#include "sddb/error.h"
#include "sddb/value.h"

namespace {

namespace fs = std::filesystem;
using sddb::Value;

// The built `sddb`: from apps/cli/cli_test.cmake, else $SDDB_CLI, else beside this test's build
// folder (build/tests/cli_test -> build/apps/cli/sddb).
std::string cli_binary() {
#ifdef SDDB_CLI_PATH
  return SDDB_CLI_PATH;
#else
  if (const char* env = std::getenv("SDDB_CLI"); env && *env) return env;
  return (fs::read_symlink("/proc/self/exe").parent_path().parent_path() / "apps/cli/sddb")
      .string();
#endif
}

std::string quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void write_file(const fs::path& p, const std::string& text) {
  std::ofstream out(p, std::ios::binary);
  out << text;
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

struct RunResult {
  int code = -1;
  std::string out;
  std::string err;
};

class CliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string templ = (fs::temp_directory_path() / "sddb_cli_test_XXXXXX").string();
    ASSERT_NE(::mkdtemp(templ.data()), nullptr);
    dir_ = templ;
    ASSERT_TRUE(fs::exists(cli_binary())) << "no sddb binary at " << cli_binary();
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string db_uri(const std::string& name = "test.db") const {
    return "sqlite://" + (dir_ / name).string();
  }

  // The shell command that runs sddb in the temp folder with the given arguments and a clean
  // environment; `env` is prepended, e.g. "X=1". The caller adds the redirections.
  std::string command(const std::vector<std::string>& args, const std::string& env = "") const {
    std::string cmd = "cd " + quote(dir_.string()) +
                      " && env -u SDDB_DATA_BACKEND -u SDDB_CONFIG -u SDDB_METADATA_STORE "
                      "-u SDDB_ARTIFACT_STORE " +
                      env + " " + quote(cli_binary());
    for (const std::string& a : args) cmd += " " + quote(a);
    return cmd;
  }

  // Runs sddb with the given arguments and stdin, through the shell so stdin, stdout and stderr
  // are plain files (not terminals).
  RunResult sddb(const std::vector<std::string>& args, const std::string& input = "",
                 const std::string& env = "") {
    write_file(dir_ / "stdin", input);
    const std::string cmd = command(args, env) + " <stdin >stdout 2>stderr";
    const int status = std::system(cmd.c_str());
    RunResult r;
    r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    r.out = read_file(dir_ / "stdout");
    r.err = read_file(dir_ / "stderr");
    return r;
  }

  // sddb with --db pointing at the test database.
  RunResult db(std::vector<std::string> args, const std::string& input = "") {
    args.insert(args.begin(), {"--db", db_uri()});
    return sddb(args, input);
  }

  std::int64_t count(const std::string& collection, const std::string& filter = "{}") {
    RunResult r = db({"count", collection, filter});
    EXPECT_EQ(r.code, 0) << r.err;
    return Value::parse(r.out).find("count")->as_int();
  }

  fs::path dir_;
};

// Checks the one-line error format and returns the message after "sddb: error: CODE: ".
std::string error_message(const RunResult& r, const std::string& code) {
  EXPECT_EQ(lines_of(r.err).size(), 1u) << r.err;
  const std::string prefix = "sddb: error: " + code + ": ";
  EXPECT_EQ(r.err.rfind(prefix, 0), 0u) << r.err;
  return r.err.size() > prefix.size() ? r.err.substr(prefix.size()) : "";
}

TEST_F(CliTest, InsertFromFileSkipsBlankLinesAndFindPrintsJsonLines) {
  write_file(
      dir_ / "docs.jsonl",
      "{\"_id\": \"a\", \"n\": 1}\n\n   \n{\"_id\": \"b\", \"n\": 2.5, \"tags\": [\"x\"]}\r\n"
      "{\"n\": 3}");  // no newline at the end, CRLF above
  RunResult r = db({"insert", "docs", (dir_ / "docs.jsonl").string()});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, "{\"inserted\":3}\n");
  EXPECT_EQ(r.err, "") << "no progress output when stderr is not a terminal";

  r = db({"find", "docs", "{}", "--sort", "n"});
  ASSERT_EQ(r.code, 0) << r.err;
  std::vector<std::string> lines = lines_of(r.out);
  ASSERT_EQ(lines.size(), 3u) << r.out;
  EXPECT_EQ(lines[0], "{\"_id\":\"a\",\"n\":1}");
  EXPECT_EQ(lines[1], "{\"_id\":\"b\",\"n\":2.5,\"tags\":[\"x\"]}");
  Value third = Value::parse(lines[2]);
  EXPECT_EQ(*third.find("n"), Value(3));
  EXPECT_EQ(third.find("_id")->as_string().size(), 24u) << "a generated id";
}

// On a terminal the import draws a progress line on stderr; piped (every other test) it does
// not. `script` (util-linux) gives the command a pseudo-terminal.
TEST_F(CliTest, ProgressOnlyOnATerminal) {
  if (std::system("command -v script >/dev/null 2>&1") != 0) {
    GTEST_SKIP() << "needs script(1) from util-linux for a pseudo-terminal";
  }
  std::string input;
  for (int i = 0; i < 3000; ++i) input += "{\"i\": " + std::to_string(i) + "}\n";
  write_file(dir_ / "many.jsonl", input);
  const std::string inner = quote(cli_binary()) + " --db " + quote(db_uri()) + " insert docs " +
                            quote((dir_ / "many.jsonl").string());
  const std::string cmd = "cd " + quote(dir_.string()) + " && script -qec " + quote(inner) +
                          " /dev/null </dev/null >tty.out 2>&1";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << read_file(dir_ / "tty.out");
  const std::string tty = read_file(dir_ / "tty.out");
  EXPECT_NE(tty.find("3000 lines  3000 docs"), std::string::npos) << tty;
  EXPECT_NE(tty.find("docs/s"), std::string::npos) << tty;
  EXPECT_NE(tty.find("100%"), std::string::npos) << tty;
  EXPECT_NE(tty.find("{\"inserted\":3000}"), std::string::npos) << tty;
}

TEST_F(CliTest, InsertFromStdin) {
  RunResult r = db({"insert", "docs", "-"}, "{\"k\": \"v1\"}\n{\"k\": \"v2\"}\n");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, "{\"inserted\":2}\n");
  EXPECT_EQ(count("docs", "{\"k\": \"v2\"}"), 1);
}

TEST_F(CliTest, MalformedLineNamesFileAndLineAndCommitsNothingOfItsBatch) {
  write_file(dir_ / "bad.jsonl", "{\"n\": 1}\n{\"n\": 2}\n{\"n\": 3}\n\n{\"n\": 4,}\n{\"n\": 5}\n");
  RunResult r = db({"insert", "docs", (dir_ / "bad.jsonl").string(), "--batch-size", "2"});
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(r.out, "");
  const std::string msg = error_message(r, "invalid_argument");
  EXPECT_NE(msg.find((dir_ / "bad.jsonl").string() + ":5: invalid JSON"), std::string::npos) << msg;
  EXPECT_NE(msg.find("2 documents before line 3 stay inserted"), std::string::npos) << msg;
  // Lines 1-2 were the first batch; line 3 shared its batch with the bad line 5.
  EXPECT_EQ(count("docs"), 2);
  EXPECT_EQ(count("docs", "{\"n\": 3}"), 0);

  // With one batch, nothing at all is stored.
  r = db({"insert", "other", (dir_ / "bad.jsonl").string()});
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(error_message(r, "invalid_argument").find("nothing was inserted"), std::string::npos);
  EXPECT_EQ(count("other"), 0);
}

TEST_F(CliTest, NonObjectLineAndBadFieldNameNameTheirLine) {
  RunResult r = db({"insert", "docs", "-"}, "{\"n\": 1}\n[1, 2]\n");
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(
      error_message(r, "invalid_argument").find("<stdin>:2: a document must be a JSON object"),
      std::string::npos)
      << r.err;
  r = db({"insert", "docs", "-"}, "{\"n\": 1}\n{\"a.b\": 1}\n");
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(error_message(r, "invalid_argument").find("<stdin>:2: field name 'a.b'"),
            std::string::npos)
      << r.err;
  EXPECT_EQ(count("docs"), 0);
}

TEST_F(CliTest, DuplicateIdFailsTheWholeBatch) {
  RunResult r =
      db({"insert", "docs", "-"}, "{\"_id\": \"x\"}\n{\"_id\": \"y\"}\n{\"_id\": \"x\"}\n");
  EXPECT_EQ(r.code, 1);
  const std::string msg = error_message(r, "already_exists");
  EXPECT_NE(msg.find("<stdin>:3: duplicate _id 'x'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("line 1"), std::string::npos) << msg;
  EXPECT_NE(msg.find("nothing was inserted"), std::string::npos) << msg;
  EXPECT_EQ(count("docs"), 0);
}

// A clash with a document stored earlier is found by the library, whose message names the _id;
// the CLI maps that back to the line of the batch rather than naming the batch's line range.
TEST_F(CliTest, DuplicateIdOfAStoredDocumentNamesItsLine) {
  ASSERT_EQ(db({"insert", "docs", "-"}, "{\"_id\": \"x\"}\n{\"_id\": \"a'b\"}\n").code, 0);
  RunResult r = db({"insert", "docs", "-", "--batch-size", "3"},
                   "{\"_id\": \"p\"}\n{\"_id\": \"q\"}\n{\"_id\": \"r\"}\n"
                   "{\"_id\": \"s\"}\n\n{\"_id\": \"a\"}\n{\"_id\": \"x\"}\n");
  EXPECT_EQ(r.code, 1);
  std::string msg = error_message(r, "already_exists");
  EXPECT_EQ(msg.rfind("<stdin>:7: duplicate _id 'x'", 0), 0u) << msg;
  EXPECT_NE(msg.find("the 3 documents before line 4 stay inserted"), std::string::npos) << msg;
  EXPECT_EQ(count("docs"), 5);

  // An _id that is a prefix of the offending one ('a' of 'a'b') does not take the blame, nor
  // one that is the name of the collection the message quotes too.
  r = db({"insert", "docs", "-"}, "{\"_id\": \"a\"}\n{\"_id\": \"a'b\"}\n{\"_id\": \"docs\"}\n");
  EXPECT_EQ(r.code, 1);
  msg = error_message(r, "already_exists");
  EXPECT_EQ(msg.rfind("<stdin>:2: duplicate _id 'a'b'", 0), 0u) << msg;
  r = db({"insert", "docs", "-"}, "{\"_id\": \"docs\"}\n{\"_id\": \"x\"}\n");
  EXPECT_EQ(r.code, 1);
  msg = error_message(r, "already_exists");
  EXPECT_EQ(msg.rfind("<stdin>:2: duplicate _id 'x'", 0), 0u) << msg;
}

TEST_F(CliTest, FindWithFilterSortLimitSkipProjection) {
  std::string input;
  for (int n = 1; n <= 6; ++n) {
    input += "{\"_id\": \"d" + std::to_string(n) + "\", \"n\": " + std::to_string(n) +
             ", \"g\": \"" + (n % 2 ? "odd" : "even") + "\"}\n";
  }
  ASSERT_EQ(db({"insert", "docs", "-"}, input).code, 0);

  RunResult r = db({"find", "docs", "{}", "--sort", "n:-1", "--limit", "2", "--skip", "1",
                    "--projection", "{\"n\": 1, \"_id\": 0}"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, "{\"n\":5}\n{\"n\":4}\n");

  r = db({"find", "docs", "{\"n\": {\"$gt\": 2}}", "--sort", "g", "--sort", "n:-1", "--projection",
          "{\"n\": 1}"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out,
            "{\"_id\":\"d6\",\"n\":6}\n{\"_id\":\"d4\",\"n\":4}\n"
            "{\"_id\":\"d5\",\"n\":5}\n{\"_id\":\"d3\",\"n\":3}\n");

  // Options may come before the positional filter, and --db after the subcommand.
  r = sddb({"find", "docs", "--limit", "1", "--sort", "n", "--db", db_uri(), "{\"g\": \"even\"}"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, "{\"_id\":\"d2\",\"n\":2,\"g\":\"even\"}\n");

  r = db({"find", "empty"});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, "");
}

TEST_F(CliTest, UpdateDeleteAndCountPrintOneJsonObject) {
  ASSERT_EQ(
      db({"insert", "docs", "-"},
         "{\"_id\": \"a\", \"g\": 1}\n{\"_id\": \"b\", \"g\": 1}\n{\"_id\": \"c\", \"g\": 2}\n")
          .code,
      0);
  RunResult r = db({"update", "docs", "{\"g\": 1}", "{\"$inc\": {\"v\": 10}}"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, "{\"matched\":2,\"modified\":2}\n");

  r = db({"update", "docs", "{\"g\": 1}", "{\"$set\": {\"w\": true}}", "--one"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, "{\"matched\":1,\"modified\":1}\n");
  EXPECT_EQ(count("docs", "{\"w\": true}"), 1);

  r = db({"update", "docs", "{\"_id\": \"z\"}", "{\"$set\": {\"g\": 9}}", "--upsert"});
  ASSERT_EQ(r.code, 0) << r.err;
  Value up = Value::parse(r.out);
  EXPECT_EQ(*up.find("matched"), Value(0));
  ASSERT_NE(up.find("upserted_id"), nullptr) << r.out;
  EXPECT_EQ(count("docs", "{\"g\": 9}"), 1);

  // A document without operators replaces one document, and says so when --one is missing.
  r = db({"update", "docs", "{\"_id\": \"c\"}", "{\"g\": 3}"});
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(error_message(r, "usage").find("--one"), std::string::npos);
  r = db({"update", "docs", "{\"_id\": \"c\"}", "{\"g\": 3}", "--one"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, "{\"matched\":1,\"modified\":1}\n");
  EXPECT_EQ(db({"find", "docs", "{\"_id\": \"c\"}"}).out, "{\"_id\":\"c\",\"g\":3}\n");

  r = db({"count", "docs"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, "{\"count\":4}\n");
  r = db({"count", "docs", "{\"g\": 1}"});
  EXPECT_EQ(r.out, "{\"count\":2}\n");

  r = db({"delete", "docs", "{\"g\": 1}", "--one"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, "{\"deleted\":1}\n");
  r = db({"delete", "docs", "{}"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, "{\"deleted\":3}\n");
  EXPECT_EQ(count("docs"), 0);
}

TEST_F(CliTest, CollectionsAndCreateIndex) {
  ASSERT_EQ(db({"insert", "zeta", "-"}, "{\"a\": {\"b\": 2}}\n{\"a\": {\"b\": 1}}\n").code, 0);
  ASSERT_EQ(db({"insert", "alpha", "-"}, "{}\n").code, 0);
  RunResult r = db({"collections"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, "{\"collection\":\"alpha\"}\n{\"collection\":\"zeta\"}\n");

  for (int i = 0; i < 2; ++i) {  // idempotent
    r = db({"create-index", "zeta", "a.b"});
    ASSERT_EQ(r.code, 0) << r.err;
    EXPECT_EQ(r.out, "{\"collection\":\"zeta\",\"index\":\"a.b\"}\n");
  }
  r = db({"find", "zeta", "{\"a.b\": {\"$gte\": 1}}", "--sort", "a.b", "--projection",
          "{\"_id\": 0}"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, "{\"a\":{\"b\":1}}\n{\"a\":{\"b\":2}}\n");

  r = db({"create-index", "zeta", "$bad"});
  EXPECT_EQ(r.code, 1);
  error_message(r, "invalid_argument");
}

TEST_F(CliTest, DbComesFromFlagThenEnvironmentThenConfigThenDefault) {
  const std::string env = "SDDB_DATA_BACKEND=" + quote(db_uri("env.db"));
  ASSERT_EQ(sddb({"insert", "docs", "-"}, "{}\n", env).code, 0);
  EXPECT_TRUE(fs::exists(dir_ / "env.db"));

  // --db wins over the environment, before or after the subcommand.
  ASSERT_EQ(sddb({"--db", db_uri("flag.db"), "insert", "docs", "-"}, "{}\n{}\n", env).code, 0);
  ASSERT_EQ(sddb({"insert", "docs", "-", "--db", db_uri("flag.db")}, "{}\n", env).code, 0);
  EXPECT_EQ(sddb({"count", "docs"}, "", env).out, "{\"count\":1}\n");
  EXPECT_EQ(sddb({"count", "docs", "--db", db_uri("flag.db")}, "", env).out, "{\"count\":3}\n");

  // --config names the file to read.
  write_file(dir_ / "my.toml", "data_backend = \"" + db_uri("conf.db") + "\"\n");
  ASSERT_EQ(sddb({"--config", (dir_ / "my.toml").string(), "insert", "docs", "-"}, "{}\n").code, 0);
  EXPECT_TRUE(fs::exists(dir_ / "conf.db"));

  // Nothing set: the embedded default in the current folder.
  ASSERT_EQ(sddb({"insert", "docs", "-"}, "{}\n").code, 0) << sddb({"count", "docs"}).err;
  EXPECT_TRUE(fs::exists(dir_ / ".sddb" / "data.db"));

  RunResult r = sddb({"--db", "nosuch://x", "collections"});
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(error_message(r, "invalid_argument").find("nosuch"), std::string::npos);
}

TEST_F(CliTest, ErrorsAreOneLineWithCodeAndExitOne) {
  RunResult r = db({"find", "docs", "{\"n\": "});
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(error_message(r, "invalid_argument").find("FILTER is not valid JSON"),
            std::string::npos);

  r = db({"find", "docs", "{\"n\": {\"$bogus\": 1}}"});
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(error_message(r, "invalid_argument").find("$bogus"), std::string::npos);

  r = db({"count", "bad name"});
  EXPECT_EQ(r.code, 1);
  error_message(r, "invalid_argument");

  r = db({"insert", "docs", (dir_ / "missing.jsonl").string()});
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(error_message(r, "io_error").find("missing.jsonl"), std::string::npos);
}

TEST_F(CliTest, UsageErrorsExitTwo) {
  const std::vector<std::vector<std::string>> cases = {
      {},                                    // no subcommand
      {"frobnicate"},                        // unknown subcommand
      {"find"},                              // missing collection
      {"find", "docs", "--limit", "many"},   // not a number
      {"find", "docs", "--sort", "n:2"},     // bad direction
      {"find", "docs", "--limit", "-1"},     // negative
      {"find", "docs", "--no-such-option"},  // unknown option
      {"update", "docs", "{}"},              // missing UPDATE
      {"insert", "docs", "-", "--batch-size", "0"},
  };
  for (const auto& args : cases) {
    RunResult r = db(args);
    std::string joined;
    for (const auto& a : args) joined += a + " ";
    EXPECT_EQ(r.code, 2) << joined << "\n" << r.err;
    error_message(r, "usage");
    EXPECT_EQ(r.out, "") << joined;
  }
}

// The commands, as the words that name them ("model fit" is two).
const std::vector<std::vector<std::string>> kCommands = {
    {"insert"},      {"find"},         {"update"},          {"delete"},       {"count"},
    {"collections"}, {"create-index"}, {"model"},           {"model", "fit"}, {"model", "add"},
    {"listen"},      {"index"},        {"index", "create"}, {"search"},       {"show"},
    {"remove"},      {"jobs"}};

std::string joined(const std::vector<std::string>& words) {
  std::string out;
  for (const std::string& w : words) out += (out.empty() ? "" : " ") + w;
  return out;
}

TEST_F(CliTest, HelpOnEverySubcommandHasAnExample) {
  for (const auto& words : kCommands) {
    std::vector<std::string> args = words;
    args.push_back("--help");
    RunResult r = sddb(args);
    const std::string sub = joined(words);
    EXPECT_EQ(r.code, 0) << sub;
    EXPECT_NE(r.out.find("Example"), std::string::npos) << sub << ":\n" << r.out;
    EXPECT_NE(r.out.find("sddb " + sub), std::string::npos) << r.out;
  }
  RunResult r = sddb({"insert", "--help"});
  EXPECT_NE(r.out.find("earlier batches stay inserted"), std::string::npos) << r.out;
  EXPECT_EQ(sddb({"--help"}).code, 0);
}

// Help fits a 100-column terminal, and the main help lists each command on one line (it used to
// repeat every command's whole description there, in lines of up to 120 columns).
TEST_F(CliTest, HelpFitsOneHundredColumns) {
  std::vector<std::vector<std::string>> all = kCommands;
  all.emplace_back();  // sddb --help
  for (const auto& words : all) {
    std::vector<std::string> args = words;
    args.push_back("--help");
    RunResult r = sddb(args);
    const std::string sub = joined(words);
    ASSERT_EQ(r.code, 0) << sub;
    for (const std::string& line : lines_of(r.out)) {
      EXPECT_LE(line.size(), 100u) << sub << ": " << line;
    }
  }
  const std::vector<std::string> lines = lines_of(sddb({"--help"}).out);
  for (const char* sub :
       {"insert", "update", "delete", "create-index", "model", "listen", "search", "show"}) {
    for (std::size_t i = 0; i < lines.size(); ++i) {
      if (lines[i].rfind(std::string("  ") + sub + " ", 0) != 0) continue;
      ASSERT_LT(i + 1, lines.size());
      const std::string& next = lines[i + 1];
      EXPECT_TRUE(next.empty() || next.find_first_not_of(' ') == 2u)
          << sub << "'s summary goes on: " << next;
    }
  }
}

// Valid UTF-8 with no control characters but tab: safe to show on a terminal or in a log.
bool printable_utf8(const std::string& s) {
  for (std::size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      if ((c < 0x20 && c != '\t' && c != '\n') || c == 0x7f) return false;
      ++i;
      continue;
    }
    const std::size_t n = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc2 ? 2 : 0;
    if (n == 0 || c > 0xf4 || i + n > s.size()) return false;
    for (std::size_t k = 1; k < n; ++k) {
      if ((static_cast<unsigned char>(s[i + k]) & 0xc0) != 0x80) return false;
    }
    i += n;
  }
  return true;
}

// `delete c null` and `delete c ''` used to delete everything: the empty text became {} and the
// library read a null filter as {}. Writes now need an explicit object, '{}' for everything.
TEST_F(CliTest, WriteFiltersMustBeObjects) {
  ASSERT_EQ(
      db({"insert", "docs", "-"}, "{\"_id\": \"a\", \"n\": 1}\n{\"_id\": \"b\", \"n\": 2}\n").code,
      0);
  const std::vector<std::string> bad = {"null", "", "  ", "[]", "[{}]", "1", "\"x\"", "true"};
  for (const std::string& filter : bad) {
    for (const auto& args : std::vector<std::vector<std::string>>{
             {"delete", "docs", filter},
             {"delete", "docs", filter, "--one"},
             {"update", "docs", filter, "{\"$set\": {\"m\": 1}}"},
             {"update", "docs", filter, "{\"m\": 1}", "--one", "--upsert"},
         }) {
      RunResult r = db(args);
      EXPECT_EQ(r.code, 2) << args[0] << " '" << filter << "': " << r.err;
      const std::string msg = error_message(r, "usage");
      EXPECT_NE(msg.find("FILTER"), std::string::npos) << msg;
      EXPECT_NE(msg.find("'{}'"), std::string::npos) << msg;
      EXPECT_EQ(r.out, "");
    }
  }
  EXPECT_EQ(count("docs"), 2);
  EXPECT_EQ(count("docs", "{\"m\": 1}"), 0);

  // find and count: no FILTER means every document, an explicit one must be an object.
  EXPECT_EQ(lines_of(db({"find", "docs"}).out).size(), 2u);
  EXPECT_EQ(db({"count", "docs"}).out, "{\"count\":2}\n");
  for (const std::string& filter : bad) {
    for (const char* cmd : {"find", "count"}) {
      RunResult r = db({cmd, "docs", filter});
      EXPECT_EQ(r.code, 2) << cmd << " '" << filter << "': " << r.err;
      EXPECT_NE(error_message(r, "usage").find("'{}'"), std::string::npos) << r.err;
      EXPECT_EQ(r.out, "");
    }
  }
  // Not JSON at all stays an invalid_argument naming the argument.
  RunResult r = db({"delete", "docs", "{\"n\": "});
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(error_message(r, "invalid_argument").find("FILTER is not valid JSON"),
            std::string::npos);
  EXPECT_EQ(count("docs"), 2);
}

// Writing to a full disk or a closed stdout used to abort (an exception thrown from a destructor
// during unwinding) or to exit 0 having printed nothing.
TEST_F(CliTest, FailedWritesToStdoutAreOneLineErrors) {
  if (!fs::exists("/dev/full")) GTEST_SKIP() << "needs /dev/full";
  std::string input;
  for (int i = 0; i < 3000; ++i) input += "{\"i\": " + std::to_string(i) + "}\n";
  ASSERT_EQ(db({"insert", "docs", "-"}, input).code, 0);
  write_file(dir_ / "one.jsonl", "{}\n");

  const std::vector<std::vector<std::string>> cases = {
      {"find", "docs"},  // more than one buffer full
      {"find", "docs", "{}", "--limit", "1"},
      {"count", "docs"},
      {"collections"},
      {"create-index", "docs", "i"},
      {"update", "docs", "{\"i\": 1}", "{\"$set\": {\"j\": 1}}"},
      {"delete", "docs", "{\"i\": 2}"},
      {"insert", "other", (dir_ / "one.jsonl").string()},
  };
  for (auto args : cases) {
    args.insert(args.begin(), {"--db", db_uri()});
    for (const char* redirect : {">/dev/full", ">&-"}) {
      const std::string cmd = command(args) + " </dev/null " + redirect + " 2>stderr";
      const int status = std::system(cmd.c_str());
      RunResult r;
      r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
      r.err = read_file(dir_ / "stderr");
      EXPECT_EQ(r.code, 1) << args[2] << " " << redirect << ": " << r.err;
      const std::string msg = error_message(r, "io_error");
      EXPECT_EQ(msg.rfind("writing to standard output: ", 0), 0u) << msg;
      if (std::string(redirect) == ">/dev/full") {
        EXPECT_EQ(msg, "writing to standard output: No space left on device\n");
      }
    }
  }
  // The writes themselves happened; only their report was lost.
  EXPECT_EQ(count("docs", "{\"j\": 1}"), 1);
  EXPECT_EQ(count("other"), 2);
}

// A reader that stops early (head) is not an error: no message, and the status of a program
// stopped by SIGPIPE (128 + 13), as cat or grep give, so `set -o pipefail` sees the same.
TEST_F(CliTest, ReaderGoingAwayStopsQuietly) {
  if (std::system("command -v bash >/dev/null 2>&1") != 0) GTEST_SKIP() << "needs bash";
  std::string input;
  const std::string pad(200, 'p');
  for (int i = 0; i < 20000; ++i) {
    input += "{\"i\": " + std::to_string(i) + ", \"pad\": \"" + pad + "\"}\n";
  }
  ASSERT_EQ(db({"insert", "docs", "-"}, input).code, 0);
  // 4 MB of output cannot fit in a pipe, so sddb is still writing when head has gone.
  const std::string pipeline = command({"--db", db_uri(), "find", "docs"}) +
                               " </dev/null 2>stderr | head -1 >stdout; "
                               "echo ${PIPESTATUS[0]} >status";
  ASSERT_EQ(std::system(("bash -c " + quote(pipeline)).c_str()), 0);
  EXPECT_EQ(read_file(dir_ / "status"), "141\n");
  EXPECT_EQ(read_file(dir_ / "stderr"), "");
  const std::vector<std::string> lines = lines_of(read_file(dir_ / "stdout"));
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(*Value::parse(lines[0]).find("i"), Value(0));
}

TEST_F(CliTest, SortDirections) {
  ASSERT_EQ(db({"insert", "docs", "-"},
               "{\"_id\": \"a\", \"n\": 2, \"k:v\": 1}\n{\"_id\": \"b\", \"n\": 1, \"k:v\": 2}\n")
                .code,
            0);
  const std::string up = "{\"_id\":\"b\"}\n{\"_id\":\"a\"}\n";
  const std::string down = "{\"_id\":\"a\"}\n{\"_id\":\"b\"}\n";
  const std::vector<std::pair<std::string, std::string>> good = {
      {"n", up},        {"n:1", up},     {"n:asc", up},    {"n:-1", down},
      {"n:desc", down}, {"k:v:1", down}, {"k:v:desc", up},
  };
  for (const auto& [spec, want] : good) {
    RunResult r = db({"find", "docs", "--sort", spec, "--projection", "{\"_id\": 1}"});
    EXPECT_EQ(r.code, 0) << spec << ": " << r.err;
    EXPECT_EQ(r.out, want) << spec;
  }
  // Anything else after the last ':' is a mistake, not a field named "n:up".
  for (const std::string spec : {"n:up", "n:2", "n:", "n:ASC", "k:v", ":1", ":"}) {
    RunResult r = db({"find", "docs", "--sort", spec});
    EXPECT_EQ(r.code, 2) << spec << ": " << r.err;
    const std::string msg = error_message(r, "usage");
    EXPECT_NE(msg.find("'" + spec + "'"), std::string::npos) << msg;
    EXPECT_EQ(r.out, "");
  }
  const std::string msg = error_message(db({"find", "docs", "--sort", "n:up"}), "usage");
  EXPECT_NE(msg.find("PATH:-1"), std::string::npos) << msg;
  EXPECT_NE(msg.find("desc"), std::string::npos) << msg;
}

TEST_F(CliTest, UnknownCommandIsNamedAndTheCommandsListed) {
  for (const auto& args : std::vector<std::vector<std::string>>{
           {"bogus"},
           {"--db", "sqlite://x.db", "bogus", "docs"},
           {"--config=x.toml", "bogus"},
       }) {
    RunResult r = sddb(args);
    EXPECT_EQ(r.code, 2) << r.err;
    const std::string msg = error_message(r, "usage");
    EXPECT_EQ(msg.rfind("unknown command 'bogus'", 0), 0u) << msg;
    for (const char* sub :
         {"insert", "find", "update", "delete", "count", "collections", "create-index", "model",
          "listen", "index", "search", "show", "remove", "jobs"}) {
      EXPECT_NE(msg.find(sub), std::string::npos) << sub << " in " << msg;
    }
  }
  RunResult r = sddb({});
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(error_message(r, "usage").find("create-index"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(dir_ / "x.db"));
}

TEST_F(CliTest, LeadingByteOrderMarkIsSkipped) {
  write_file(dir_ / "bom.jsonl", "\xef\xbb\xbf{\"n\": 1}\n{\"n\": 2}\n");
  RunResult r = db({"insert", "docs", (dir_ / "bom.jsonl").string()});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, "{\"inserted\":2}\n");
  EXPECT_EQ(count("docs", "{\"n\": 1}"), 1);
  r = db({"insert", "docs", "-"}, "\xef\xbb\xbf{\"n\": 3}\n");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(count("docs"), 3);
}

// Bytes that are not UTF-8 (a Latin-1 file, a stray BOM half) are shown as \xNN, never raw.
TEST_F(CliTest, ErrorMessagesEscapeInvalidBytes) {
  for (const std::string& text : {std::string("\xff{}\n"), std::string("{\"a\": 1}\n\xbb\xbf{}\n"),
                                  std::string("{\"caf\xe9\": 1}\n"), std::string("\x1b[2J\n")}) {
    RunResult r = db({"insert", "docs", "-"}, text);
    EXPECT_EQ(r.code, 1) << r.err;
    error_message(r, "invalid_argument");
    EXPECT_TRUE(printable_utf8(r.err)) << r.err;
  }
  RunResult r = db({"insert", "docs", "-"}, "\xff{}\n");
  EXPECT_NE(r.err.find("\\xff"), std::string::npos) << r.err;
  r = db({"find", "docs", "\xe9"});
  EXPECT_TRUE(printable_utf8(r.err)) << r.err;
  EXPECT_NE(r.err.find("\\xe9"), std::string::npos) << r.err;
  r = db({"count", "caf\xc3\xa9"});  // valid UTF-8 stays as it is
  EXPECT_TRUE(printable_utf8(r.err)) << r.err;
  EXPECT_NE(r.err.find("caf\xc3\xa9"), std::string::npos) << r.err;
  r = sddb({"bogus\xff"});
  EXPECT_EQ(r.code, 2);
  EXPECT_TRUE(printable_utf8(r.err)) << r.err;
}

// Whether UPDATE is a replacement is the library's rule (no $-operators, {} included), and the
// help says so.
TEST_F(CliTest, UpdateWithoutOperatorsIsAReplacement) {
  ASSERT_EQ(db({"insert", "docs", "-"}, "{\"_id\": \"a\", \"n\": 1}\n").code, 0);
  RunResult r = db({"update", "docs", "{\"_id\": \"a\"}", "{}"});
  EXPECT_EQ(r.code, 2) << r.err;
  EXPECT_NE(error_message(r, "usage").find("--one"), std::string::npos) << r.err;
  r = db({"update", "docs", "{\"_id\": \"a\"}", "{}", "--one"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, "{\"matched\":1,\"modified\":1}\n");
  EXPECT_EQ(db({"find", "docs"}).out, "{\"_id\":\"a\"}\n");

  // Fields and operators mixed is neither, and the library says so.
  r = db({"update", "docs", "{}", "{\"n\": 1, \"$set\": {\"m\": 1}}", "--one"});
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(error_message(r, "invalid_argument").find("mix"), std::string::npos) << r.err;
  for (const std::string update : {"", "null", "[]", "1"}) {
    r = db({"update", "docs", "{}", update, "--one"});
    EXPECT_EQ(r.code, 2) << "'" << update << "': " << r.err;
    EXPECT_NE(error_message(r, "usage").find("UPDATE"), std::string::npos) << r.err;
  }
  EXPECT_EQ(db({"find", "docs"}).out, "{\"_id\":\"a\"}\n");

  const std::string help = sddb({"update", "--help"}).out;
  EXPECT_NE(help.find("replace"), std::string::npos) << help;
  EXPECT_NE(help.find("--one"), std::string::npos) << help;
}

// Scripts read sddb's output line by line as JSON: every line of every command must parse.
TEST_F(CliTest, EveryStdoutLineIsJson) {
  const std::vector<std::vector<std::string>> runs = {
      {"insert", "docs", "-"},
      {"find", "docs"},
      {"find", "docs", "{\"s\": {\"$exists\": true}}", "--sort", "s:-1", "--projection",
       "{\"s\": 1}"},
      {"count", "docs"},
      {"update", "docs", "{\"n\": 1}", "{\"$set\": {\"m\": \"\\u0001\\n\"}}"},
      {"update", "docs", "{\"_id\": \"new\"}", "{\"n\": 9}", "--one", "--upsert"},
      {"create-index", "docs", "n"},
      {"collections"},
      {"delete", "docs", "{\"n\": 1}", "--one"},
      {"delete", "docs", "{}"},
  };
  const std::string input =
      "{\"n\": 1, \"s\": \"line\\nbreak \\u2028 \\\"q\\\" caf\xc3\xa9\"}\n{\"n\": 2.5, "
      "\"a\": [null, true, {\"x\": -1e300}]}\n";
  std::size_t lines_seen = 0;
  for (const auto& args : runs) {
    RunResult r = db(args, input);
    ASSERT_EQ(r.code, 0) << args[0] << ": " << r.err;
    EXPECT_FALSE(r.out.empty()) << args[0];
    EXPECT_EQ(r.out.back(), '\n') << args[0];
    for (const std::string& line : lines_of(r.out)) {
      ++lines_seen;
      EXPECT_NO_THROW(Value::parse(line)) << args[0] << ": " << line;
    }
  }
  EXPECT_GE(lines_seen, runs.size());
}

// --- the Debian control-file reader --------------------------------------------------------

using sddb::debian::package_document;
using sddb::debian::parse_control;
using sddb::debian::relationship_names;

std::string error_of(const std::string& text) {
  try {
    for (const auto& s : parse_control(text, "Packages")) package_document(s, "Packages");
  } catch (const sddb::Error& e) {
    EXPECT_EQ(e.code(), sddb::ErrorCode::invalid_argument);
    return e.what();
  }
  return "";
}

// --- the AI layer: model, listen, index, search, show, remove, jobs ---------------------------

// Four topics with words of their own, 50 short lines each: fastText separates them after a few
// epochs on one thread, and with --seed the training is repeatable.
std::string topic_corpus() {
  const std::vector<std::pair<std::string, std::vector<std::string>>> topics = {
      {"fruit", {"apple", "banana", "cherry", "mango", "pear", "grape", "peach", "plum"}},
      {"space", {"rocket", "orbit", "planet", "star", "galaxy", "comet", "moon", "telescope"}},
      {"code", {"compiler", "function", "variable", "pointer", "loop", "debugger", "syntax"}},
      {"music", {"guitar", "piano", "melody", "rhythm", "drum", "violin", "chord", "song"}}};
  std::string out;
  unsigned state = 12345;
  for (const auto& [topic, words] : topics) {
    for (int k = 0; k < 50; ++k) {
      std::string text;
      for (int w = 0; w < 8; ++w) {
        state = state * 1103515245u + 12345u;
        text += (w ? " " : "") + words[(state >> 16) % words.size()];
      }
      out += "{\"_id\": \"" + topic + std::to_string(k) + "\", \"topic\": \"" + topic +
             "\", \"text\": \"" + text + "\"}\n";
    }
  }
  return out;
}

class CliAiTest : public CliTest {
 protected:
  // docs (200 lines), fastText "ft" trained on them, listener "ft/text", cosine index "idx".
  void build() {
    RunResult r = db({"insert", "docs", "-"}, topic_corpus());
    ASSERT_EQ(r.code, 0) << r.err;
    r = db({"model", "fit", "ft", "--collection", "docs", "--key", "text", "--dim", "16",
            "--epochs", "10", "--threads", "1", "--seed", "1"});
    ASSERT_EQ(r.code, 0) << r.err;
    EXPECT_EQ(r.err, "") << "no progress output when stderr is not a terminal";
    Value ref = Value::parse(r.out);
    EXPECT_EQ(ref.find("type_id")->as_string(), "model");
    EXPECT_EQ(ref.find("identifier")->as_string(), "ft");
    EXPECT_EQ(ref.find("version")->as_int(), 0);
    EXPECT_TRUE(ref.find("created")->as_bool());

    r = db({"listen", "docs", "text", "ft"});
    ASSERT_EQ(r.code, 0) << r.err;
    EXPECT_EQ(r.err, "");
    listen_ref_ = Value::parse(r.out);
    r = db({"index", "create", "idx", "ft/text"});
    ASSERT_EQ(r.code, 0) << r.err;
    EXPECT_EQ(Value::parse(r.out).find("type_id")->as_string(), "vector_index");
  }

  // The parsed lines of a successful run.
  std::vector<Value> json_lines(const std::vector<std::string>& args) {
    RunResult r = db(args);
    EXPECT_EQ(r.code, 0) << r.err;
    std::vector<Value> out;
    for (const std::string& line : lines_of(r.out)) out.push_back(Value::parse(line));
    return out;
  }

  Value listen_ref_;
};

TEST_F(CliAiTest, ListenPrintsItsComponentRefWithTheBackfillJob) {
  build();
  EXPECT_EQ(listen_ref_.find("type_id")->as_string(), "listener");
  EXPECT_EQ(listen_ref_.find("identifier")->as_string(), "ft/text");
  EXPECT_EQ(listen_ref_.find("version")->as_int(), 0);
  EXPECT_TRUE(listen_ref_.find("created")->as_bool());
  ASSERT_EQ(listen_ref_.find("jobs")->as_array().size(), 1u);
  const std::string job = listen_ref_.find("jobs")->as_array()[0].as_string();

  // The same listener again adds nothing.
  RunResult r = db({"listen", "docs", "text", "ft"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_FALSE(Value::parse(r.out).find("created")->as_bool());

  // A filtered one under its own name.
  r = db({"listen", "docs", "text", "ft", "--filter", "{\"topic\": \"fruit\"}", "--identifier",
          "fruit-only", "--model-version", "0"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(Value::parse(r.out).find("identifier")->as_string(), "fruit-only");

  // jobs lists the backfill, finished.
  bool found = false;
  for (const Value& j : json_lines({"jobs"})) {
    for (const char* field :
         {"id", "kind", "args", "status", "progress", "error", "created_at_ms", "updated_at_ms"}) {
      EXPECT_TRUE(j.contains(field)) << field << " in " << j.to_json();
    }
    if (j.find("id")->as_string() != job) continue;
    found = true;
    EXPECT_EQ(j.find("kind")->as_string(), "listener_backfill");
    EXPECT_EQ(j.find("status")->as_string(), "success");
    EXPECT_EQ(j.find("progress")->as_double(), 1.0);
  }
  EXPECT_TRUE(found) << job;
  EXPECT_EQ(json_lines({"jobs", "--status", "success"}).size(), json_lines({"jobs"}).size());
  EXPECT_TRUE(json_lines({"jobs", "--status", "failed"}).empty());
}

TEST_F(CliAiTest, SearchReturnsTheTopicFirstSortedByScore) {
  build();
  const std::vector<Value> hits =
      json_lines({"search", "docs", "rocket planet comet", "--index", "idx", "-n", "5"});
  ASSERT_EQ(hits.size(), 5u);
  EXPECT_EQ(hits[0].find("topic")->as_string(), "space") << hits[0].to_json();
  for (std::size_t i = 0; i < hits.size(); ++i) {
    ASSERT_TRUE(hits[i].contains("_score")) << hits[i].to_json();
    if (i > 0) {
      EXPECT_GE(hits[i - 1].find("_score")->as_double(), hits[i].find("_score")->as_double());
    }
  }
  // Every topic finds its own.
  for (const auto& [text, topic] : std::vector<std::pair<std::string, std::string>>{
           {"banana mango", "fruit"}, {"compiler pointer", "code"}, {"guitar violin", "music"}}) {
    const std::vector<Value> top =
        json_lines({"search", "docs", text, "--index", "idx", "-n", "1"});
    ASSERT_EQ(top.size(), 1u) << text;
    EXPECT_EQ(top[0].find("topic")->as_string(), topic) << text;
  }

  // A filter gives only matches, n of them, and a projection keeps _score.
  const std::vector<Value> fruit =
      json_lines({"search", "docs", "rocket planet comet", "--index", "idx", "-n", "7", "--filter",
                  "{\"topic\": \"fruit\"}", "--projection", "{\"topic\": 1}"});
  ASSERT_EQ(fruit.size(), 7u);
  for (const Value& d : fruit) {
    EXPECT_EQ(d.find("topic")->as_string(), "fruit");
    EXPECT_FALSE(d.contains("text"));
    EXPECT_TRUE(d.contains("_score"));
  }

  // By a document's stored vector: that document first, with the best cosine.
  const std::vector<Value> by_id =
      json_lines({"search", "docs", "--id", "code3", "--index", "idx"});
  ASSERT_EQ(by_id.size(), 10u);
  EXPECT_NEAR(by_id[0].find("_score")->as_double(), 1.0, 1e-5);
  EXPECT_EQ(by_id[0].find("topic")->as_string(), "code");

  // A missing index is an error that names it.
  RunResult r = db({"search", "docs", "x", "--index", "nope"});
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(error_message(r, "not_found").find("'nope'"), std::string::npos);
}

TEST_F(CliAiTest, IndexCreateTakesTheEngineAndItsNumbers) {
  build();
  RunResult r = db({"index", "create", "graph", "ft/text", "--type", "hnsw", "--m", "8",
                    "--ef-construction", "50", "--ef-search", "100"});
  ASSERT_EQ(r.code, 0) << r.err;
  const std::vector<Value> record = json_lines({"show", "vector_index", "graph", "0"});
  ASSERT_EQ(record.size(), 1u);
  const Value* body = record[0].find("body");
  EXPECT_EQ(body->find("type")->as_string(), "hnsw");
  EXPECT_EQ(body->find("m")->as_int(), 8);
  EXPECT_EQ(body->find("ef_construction")->as_int(), 50);
  EXPECT_EQ(body->find("ef_search")->as_int(), 100);
  const std::vector<Value> top =
      json_lines({"search", "docs", "banana mango", "--index", "graph", "-n", "1"});
  ASSERT_EQ(top.size(), 1u);
  EXPECT_EQ(top[0].find("topic")->as_string(), "fruit");
  // Numbers the engine cannot take are the library's error, naming them.
  r = db({"index", "create", "bad", "ft/text", "--type", "hnsw", "--m", "1"});
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(error_message(r, "invalid_argument").find("m must be >= 2"), std::string::npos);
  // Compressed storage is recorded and searched (re-ranked on the exact vectors).
  r = db({"index", "create", "small", "ft/text", "--type", "hnsw", "--storage", "sq8"});
  ASSERT_EQ(r.code, 0) << r.err;
  const std::vector<Value> small = json_lines({"show", "vector_index", "small", "0"});
  ASSERT_EQ(small.size(), 1u);
  EXPECT_EQ(small[0].find("body")->find("storage")->as_string(), "sq8");
  const std::vector<Value> top8 =
      json_lines({"search", "docs", "banana mango", "--index", "small", "-n", "1"});
  ASSERT_EQ(top8.size(), 1u);
  EXPECT_EQ(top8[0].find("topic")->as_string(), "fruit");
  // A storage that does not exist is a usage error that lists the ones that do.
  r = db({"index", "create", "odd", "ft/text", "--storage", "int4"});
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("'int4' is not an index storage"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("sq8"), std::string::npos) << r.err;
}

TEST_F(CliAiTest, ShowAtEachLevel) {
  build();
  std::vector<std::string> types;
  for (const Value& v : json_lines({"show"})) types.push_back(v.find("type_id")->as_string());
  EXPECT_EQ(types, (std::vector<std::string>{"listener", "model", "vector_index"}));

  const std::vector<Value> models = json_lines({"show", "model"});
  ASSERT_EQ(models.size(), 1u);
  EXPECT_EQ(models[0].to_json(), "{\"type_id\":\"model\",\"identifier\":\"ft\"}");

  const std::vector<Value> versions = json_lines({"show", "listener", "ft/text"});
  ASSERT_EQ(versions.size(), 1u);
  EXPECT_EQ(versions[0].to_json(),
            "{\"type_id\":\"listener\",\"identifier\":\"ft/text\",\"version\":0}");

  const std::vector<Value> record = json_lines({"show", "vector_index", "idx", "0"});
  ASSERT_EQ(record.size(), 1u);
  const Value& rec = record[0];
  EXPECT_EQ(rec.find("type_id")->as_string(), "vector_index");
  EXPECT_EQ(rec.find("identifier")->as_string(), "idx");
  EXPECT_EQ(rec.find("version")->as_int(), 0);
  EXPECT_FALSE(rec.find("hidden")->as_bool());
  EXPECT_EQ(rec.find("body")->find("indexing_listener")->as_string(), "ft/text");
  EXPECT_EQ(rec.find("body")->find("measure")->as_string(), "cosine");
  EXPECT_EQ(rec.find("body")->find("type")->as_string(), "auto");
  EXPECT_GT(rec.find("created_at_ms")->as_int(), 0);

  RunResult r = db({"show", "model", "nope"});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, "");
  r = db({"show", "model", "ft", "7"});
  EXPECT_EQ(r.code, 1);
  error_message(r, "not_found");
}

TEST_F(CliAiTest, RemoveInUseFailsNamingTheIndexAndForceHides) {
  build();
  RunResult r = db({"remove", "listener", "ft/text"});
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(r.out, "");
  EXPECT_NE(error_message(r, "failed_precondition").find("vector_index/idx"), std::string::npos)
      << r.err;
  EXPECT_EQ(json_lines({"show", "listener"}).size(), 1u);

  const std::vector<Value> hidden = json_lines({"remove", "listener", "ft/text", "--force"});
  ASSERT_EQ(hidden.size(), 1u);
  EXPECT_EQ(hidden[0].find("status")->as_string(), "hidden");
  EXPECT_TRUE(json_lines({"show", "listener"}).empty());
  // Still there by number, marked hidden.
  const std::vector<Value> record = json_lines({"show", "listener", "ft/text", "0"});
  ASSERT_EQ(record.size(), 1u);
  EXPECT_TRUE(record[0].find("hidden")->as_bool());

  // An index nothing uses is deleted.
  const std::vector<Value> deleted =
      json_lines({"remove", "vector_index", "idx", "--version", "0"});
  ASSERT_EQ(deleted.size(), 1u);
  EXPECT_EQ(deleted[0].find("status")->as_string(), "deleted");
  EXPECT_TRUE(json_lines({"show", "vector_index"}).empty());
  r = db({"remove", "vector_index", "idx"});
  EXPECT_EQ(r.code, 1);
  error_message(r, "not_found");
}

TEST_F(CliAiTest, ModelAddFromAFastTextFile) {
  // The model can only come from a file here; a missing one is named.
  RunResult r = db({"model", "add", "m", "--fasttext", (dir_ / "missing.bin").string()});
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("missing.bin"), std::string::npos) << r.err;
  write_file(dir_ / "junk.bin", "not a model");
  r = db({"model", "add", "m", "--fasttext", (dir_ / "junk.bin").string()});
  EXPECT_EQ(r.code, 1);
  error_message(r, "invalid_argument");
  EXPECT_TRUE(json_lines({"show", "model"}).empty());
}

TEST_F(CliAiTest, UsageErrorsExitTwo) {
  for (const auto& args : std::vector<std::vector<std::string>>{
           {"model"},
           {"model", "fit", "ft", "--key", "text"},
           {"model", "fit", "ft", "--collection", "docs", "--key", "text", "--dim", "0"},
           {"model", "fit", "ft", "--collection", "docs", "--key", "text", "--epochs", "x"},
           {"model", "add", "m"},
           {"model", "add", "m", "--fasttext", "a.bin", "--http", "http://x"},
           {"model", "add", "m", "--torchscript", "a.pt"},
           {"model", "add", "m", "--fasttext", "a.bin", "--dim", "3"},
           {"model", "add", "m", "--model", "x", "--fasttext", "a.bin"},
           {"listen", "docs", "text"},
           {"listen", "docs", "text", "ft", "--filter", "[1]"},
           {"index"},
           {"index", "create", "idx"},
           {"index", "create", "idx", "ft/text", "--measure", "manhattan"},
           {"index", "create", "idx", "ft/text", "--type", "ivf"},
           {"index", "create", "idx", "ft/text", "--m", "many"},
           {"search", "docs", "--index", "idx"},
           {"search", "docs", "x"},
           {"search", "docs", "x", "--id", "a", "--index", "idx"},
           {"search", "docs", "x", "--index", "idx", "-n", "0"},
           {"show", "model", "ft", "one"},
           {"show", "model", "ft", "0", "extra"},
           {"remove", "model"},
           {"remove", "model", "ft", "--version", "x"},
           {"jobs", "--status", "done"},
       }) {
    RunResult r = db(args);
    EXPECT_EQ(r.code, 2) << joined(args) << "\n" << r.err;
    error_message(r, "usage");
    EXPECT_EQ(r.out, "") << joined(args);
  }
  EXPECT_FALSE(fs::exists(dir_ / "test.db")) << "usage errors open no database";

  // The messages say what would be right.
  RunResult r = db({"index", "create", "idx", "ft/text", "--measure", "manhattan"});
  const std::string msg = error_message(r, "usage");
  for (const char* m : {"manhattan", "cosine", "dot", "l2"}) {
    EXPECT_NE(msg.find(m), std::string::npos) << msg;
  }
  EXPECT_NE(msg.find("sddb index create --help"), std::string::npos) << msg;
  r = db({"index", "create", "idx", "ft/text", "--type", "ivf"});
  EXPECT_NE(error_message(r, "usage").find("use auto, flat or hnsw"), std::string::npos);
  r = db({"jobs", "--status", "done"});
  EXPECT_NE(error_message(r, "usage").find("pending, running, success or failed"),
            std::string::npos);
}

TEST_F(CliAiTest, BadJsonInFilterNamesTheOption) {
  for (const auto& args : std::vector<std::vector<std::string>>{
           {"model", "fit", "ft", "--collection", "docs", "--key", "text", "--filter", "{bad"},
           {"listen", "docs", "text", "ft", "--filter", "{bad"},
           {"search", "docs", "x", "--index", "idx", "--filter", "{bad"},
       }) {
    RunResult r = db(args);
    EXPECT_EQ(r.code, 1) << joined(args);
    EXPECT_EQ(error_message(r, "invalid_argument").rfind("--filter is not valid JSON", 0), 0u)
        << r.err;
  }
  RunResult r = db({"search", "docs", "x", "--index", "idx", "--projection", "{bad"});
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(error_message(r, "invalid_argument").rfind("--projection is not valid JSON", 0), 0u);
}

// On a terminal, training and the backfill draw progress on stderr.
TEST_F(CliAiTest, ProgressOnATerminal) {
  if (std::system("command -v script >/dev/null 2>&1") != 0) {
    GTEST_SKIP() << "needs script(1) from util-linux for a pseudo-terminal";
  }
  ASSERT_EQ(db({"insert", "docs", "-"}, topic_corpus()).code, 0);
  const std::string inner =
      quote(cli_binary()) + " --db " + quote(db_uri()) +
      " model fit ft --collection docs --key text --dim 8 --epochs 2 --threads 1 --seed 1 && " +
      quote(cli_binary()) + " --db " + quote(db_uri()) + " listen docs text ft";
  const std::string cmd = "cd " + quote(dir_.string()) + " && script -qec " + quote(inner) +
                          " /dev/null </dev/null >tty.out 2>&1";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << read_file(dir_ / "tty.out");
  const std::string tty = read_file(dir_ / "tty.out");
  EXPECT_NE(tty.find("training fastText model 'ft'"), std::string::npos) << tty;
  EXPECT_NE(tty.find("200 / 200 docs"), std::string::npos) << tty;
  EXPECT_NE(tty.find("100%"), std::string::npos) << tty;
  EXPECT_NE(tty.find("\"identifier\":\"ft/text\""), std::string::npos) << tty;
}

TEST(DebianControl, StanzasFieldsAndContinuationLines) {
  const std::string text =
      "Package: foo\n"
      "Version: 1.2-3\n"
      "Installed-Size: 28591\n"
      "Maintainer: Jane Doe <jane@example.org>\n"
      "Architecture: amd64\n"
      "Depends: libc6 (>= 2.34), libfoo1 | libfoo-compat:any, bar [amd64] <!nocheck>,\n"
      " libc6 (<< 3)\n"
      "Pre-Depends: dpkg (>= 1.15.6~)\n"
      "Recommends: baz\n"
      "Description: the synopsis\n"
      " First paragraph\n"
      " continues here.\n"
      " .\n"
      "   indented verbatim\n"
      "Homepage: https://example.org/\n"
      "Tag: game::strategy, interface::x11,\n"
      " role::program\n"
      "Section: games\n"
      "Priority: optional\n"
      "Size: 7891488\n"
      "\n\n \t\n"
      "Package: bar\r\n"
      "Description: only a synopsis\r\n";
  const auto stanzas = parse_control(text);
  ASSERT_EQ(stanzas.size(), 2u);
  EXPECT_EQ(stanzas[0].line, 1u);
  EXPECT_EQ(stanzas[1].line, 24u);
  EXPECT_EQ(stanzas[0].find("depends")->value,
            "libc6 (>= 2.34), libfoo1 | libfoo-compat:any, bar [amd64] <!nocheck>,\n libc6 (<< 3)");

  const Value doc = package_document(stanzas[0], "x");
  EXPECT_EQ(doc.to_json(), Value::parse(R"({
      "name": "foo", "version": "1.2-3", "section": "games", "priority": "optional",
      "architecture": "amd64", "maintainer": "Jane Doe <jane@example.org>",
      "homepage": "https://example.org/", "size": 7891488, "installed_size": 28591,
      "depends": ["libc6", "libfoo1", "libfoo-compat", "bar"], "pre_depends": ["dpkg"],
      "recommends": ["baz"],
      "tags": ["game::strategy", "interface::x11", "role::program"],
      "description": "the synopsis",
      "long_description": "First paragraph\ncontinues here.\n\n  indented verbatim"})")
                               .to_json());

  // Missing fields are absent, not null; CRLF line ends are read as LF.
  const Value bar = package_document(stanzas[1], "x");
  EXPECT_EQ(bar.to_json(), R"({"name":"bar","description":"only a synopsis"})");
}

TEST(DebianControl, RelationshipNames) {
  EXPECT_EQ(relationship_names(""), std::vector<std::string>{});
  EXPECT_EQ(relationship_names("a"), std::vector<std::string>{"a"});
  EXPECT_EQ(relationship_names(" a (>= 1:2.0~rc1) | b:amd64 (<< 3),c,, a , d [!i386] <stage1>"),
            (std::vector<std::string>{"a", "b", "c", "d"}));
}

TEST(DebianControl, MalformedInputNamesTheLine) {
  EXPECT_NE(error_of(" starts with a continuation\n").find("Packages:1: continuation"),
            std::string::npos);
  EXPECT_NE(error_of("Package: a\n\nno colon here\n").find("Packages:3: expected 'Field: value'"),
            std::string::npos);
  EXPECT_NE(error_of("Package: a\nVersion: 1\npackage: b\n")
                .find("Packages:3: field 'package' "
                      "repeats the one at line 1"),
            std::string::npos);
  EXPECT_NE(error_of("Package: a\n: empty name\n").find("Packages:2: empty field name"),
            std::string::npos);
  EXPECT_NE(error_of("Package: a\n\nVersion: 1\nSection: x\n")
                .find("Packages:3: stanza has no "
                      "Package field"),
            std::string::npos);
  EXPECT_NE(error_of("Package: a\nSize: 12x\n").find("Packages:2: Size must be a non-negative"),
            std::string::npos);
  EXPECT_NE(error_of("Package: a\nInstalled-Size: -1\n").find("Packages:2: Installed-Size"),
            std::string::npos);
  EXPECT_NE(error_of("Package: two words\n").find("Packages:1: Package must be one word"),
            std::string::npos);
  EXPECT_NE(error_of("Package: a\n-----BEGIN PGP: x\n").find("Packages:2:"), std::string::npos);
  EXPECT_EQ(error_of(""), "");
  EXPECT_EQ(error_of("\n\n"), "");
}

TEST(DebianControl, ReaderStreamsAndCountsLinesAndBytes) {
  std::istringstream in("Package: a\n\nPackage: b\nVersion: 2\n");
  sddb::debian::ControlReader reader(in, "-");
  EXPECT_EQ(reader.source(), "<stdin>");
  auto a = reader.next();
  ASSERT_TRUE(a);
  EXPECT_EQ(a->fields.size(), 1u);
  auto b = reader.next();
  ASSERT_TRUE(b);
  EXPECT_EQ(b->line, 3u);
  EXPECT_FALSE(reader.next());
  EXPECT_EQ(reader.lines_read(), 4u);
  EXPECT_EQ(reader.bytes_read(), 34u);
}

}  // namespace
