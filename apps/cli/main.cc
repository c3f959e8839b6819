// The `sddb` command: documents in and out of an sddb database from the shell.
//
// Exit codes: 0 success, 1 an sddb error (printed as "sddb: error: <code>: <message>"),
// 2 a usage error (unknown command or option, missing argument, bad --sort ...), 141 the reader
// of stdout went away (`sddb find docs | head -1`): the status of a program stopped by SIGPIPE,
// which is what cat or grep give there, so `set -o pipefail` scripts see the usual status.
// SIGPIPE itself is ignored, so that this is a clean stop (open databases are closed properly)
// and not a kill in the middle of a write.

#include <fcntl.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <exception>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "commands.h"
#include "sddb/error.h"

namespace {

constexpr int kExitError = 1;
constexpr int kExitUsage = 2;
constexpr int kExitOutputClosed = 128 + SIGPIPE;

// Length of the UTF-8 sequence at s[i] (lead byte >= 0x80), or 0 when it is not valid UTF-8
// (stray continuation byte, overlong form, surrogate, beyond U+10FFFF, cut short) or encodes a
// C1 control character (U+0080-U+009F), which terminals may act on.
std::size_t utf8_length(std::string_view s, std::size_t i) {
  const auto byte = [&](std::size_t k) {
    return i + k < s.size() ? static_cast<unsigned char>(s[i + k]) : 0u;
  };
  const unsigned c = byte(0);
  unsigned lo = 0x80, hi = 0xBF;  // range of the second byte
  std::size_t n = 0;
  if (c >= 0xC2 && c <= 0xDF) {
    n = 2;
    if (c == 0xC2) lo = 0xA0;
  } else if (c >= 0xE0 && c <= 0xEF) {
    n = 3;
    if (c == 0xE0) lo = 0xA0;
    if (c == 0xED) hi = 0x9F;
  } else if (c >= 0xF0 && c <= 0xF4) {
    n = 4;
    if (c == 0xF0) lo = 0x90;
    if (c == 0xF4) hi = 0x8F;
  } else {
    return 0;
  }
  if (byte(1) < lo || byte(1) > hi) return 0;
  for (std::size_t k = 2; k < n; ++k) {
    if (byte(k) < 0x80 || byte(k) > 0xBF) return 0;
  }
  return n;
}

// One printable line, whatever the message holds (it may quote a user's file or argument), so
// `2>err; cat err` and log scrapers see one record and a terminal never receives raw invalid
// bytes or escape sequences: line breaks and tabs become spaces, other control characters and
// bytes that are not UTF-8 become \xNN.
std::string printable_line(std::string_view message) {
  std::string out;
  out.reserve(message.size());
  for (std::size_t i = 0; i < message.size();) {
    const auto c = static_cast<unsigned char>(message[i]);
    if (c == '\n' || c == '\r' || c == '\t') {
      out += ' ';
      ++i;
    } else if (c >= 0x20 && c < 0x7F) {
      out += static_cast<char>(c);
      ++i;
    } else if (const std::size_t n = c >= 0x80 ? utf8_length(message, i) : 0; n > 0) {
      out.append(message.substr(i, n));
      i += n;
    } else {
      static const char kHex[] = "0123456789abcdef";
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 15];
      ++i;
    }
  }
  return out;
}

void print_error(std::string_view code, std::string_view message) {
  const std::string line =
      "sddb: error: " + std::string(code) + ": " + printable_line(message) + "\n";
  std::fwrite(line.data(), 1, line.size(), stderr);
}

// Subcommand help does not list the options of the main command, so each footer names them.
std::string footer(const std::string& examples) {
  return examples +
         "\n\nEvery command also takes --db URI (default: $SDDB_DATA_BACKEND, then sddb.toml, "
         "then\n"
         "sqlite://.sddb/data.db) and --config FILE, before or after the subcommand.\n";
}

// Names the deepest command given ("sddb model fit --help").
std::string help_hint(const CLI::App& app) {
  std::string path;
  const CLI::App* at = &app;
  while (true) {
    const std::vector<CLI::App*> subs = at->get_subcommands();
    if (subs.empty()) break;
    at = subs.front();
    path += " " + at->get_name();
  }
  return " (see 'sddb" + path + " --help')";
}

// CLI11 reads `sddb bogus` as a missing subcommand plus an extra argument. This finds the first
// argument after the main options (--db URI, --config FILE) and returns a message when it is not
// a command, or when there is none; it leaves anything else (help, a bad option) to CLI11.
std::string check_command(int argc, char** argv, const std::vector<CLI::App*>& commands) {
  std::string names;
  for (const CLI::App* c : commands) names += (names.empty() ? "" : ", ") + c->get_name();
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if ((arg == "--db" || arg == "--config") && i + 1 < argc) {
      ++i;
    } else if (arg.rfind("--db=", 0) == 0 || arg.rfind("--config=", 0) == 0) {
      continue;
    } else if (!arg.empty() && arg[0] == '-') {
      return "";
    } else {
      for (const CLI::App* c : commands) {
        if (c->get_name() == arg) return "";
      }
      return "unknown command '" + std::string(arg) + "'; the commands are " + names;
    }
  }
  return "a command is required, one of " + names;
}

// A standard descriptor closed by the caller (`sddb find docs >&-`) would be handed to the next
// file opened, say a database or a server connection, and the output written into it. Hold each
// closed one with /dev/null opened the wrong way round, so using it still fails with EBADF.
void hold_closed_standard_fds() {
  for (int fd = 0; fd <= 2; ++fd) {
    if (::fcntl(fd, F_GETFD) != -1 || errno != EBADF) continue;
    const int held = ::open("/dev/null", fd == 0 ? O_WRONLY : O_RDONLY);  // lowest free: fd
    if (held != fd && held >= 0) ::close(held);
  }
}

// The main help lists each command with the first line of its description, a summary; the
// whole description opens the command's own help.
class SummaryFormatter : public CLI::Formatter {
 public:
  std::string make_subcommand(const CLI::App* sub) const override {
    const std::string& description = sub->get_description();
    std::ostringstream out;
    CLI::detail::format_help(out, sub->get_display_name(true),
                             description.substr(0, description.find('\n')), get_column_width());
    return out.str();
  }
};

// Help text goes through write_stdout like every other output, so its write errors count too.
int print_help(const CLI::App& app, const CLI::ParseError& e) {
  std::ostringstream out, err;
  const int code = app.exit(e, out, err);
  try {
    sddb::cli::write_stdout(out.str());
  } catch (const sddb::cli::OutputClosed&) {
    return kExitOutputClosed;
  } catch (const sddb::Error& write_error) {
    print_error(sddb::to_string(write_error.code()), write_error.what());
    return kExitError;
  }
  return code;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace sddb::cli;

  hold_closed_standard_fds();
  // A closed pipe is then an EPIPE write error, which write_stdout turns into OutputClosed.
  std::signal(SIGPIPE, SIG_IGN);

  CLI::App app{
      "sddb: store, query and search JSON documents in an sddb database.\n"
      "The database is --db URI, else $SDDB_DATA_BACKEND, else sddb.toml, else the embedded\n"
      "default sqlite://.sddb/data.db in the current folder.",
      "sddb"};
  app.formatter(std::make_shared<SummaryFormatter>());
  app.require_subcommand(1);
  app.fallthrough();  // --db and --config may come before or after the subcommand
  app.footer(
      "Every command prints its results on stdout as JSON lines, one JSON object per line.\n"
      "'sddb COMMAND --help' explains a command.\n"
      "\n"
      "Examples:\n"
      "  sddb --db sqlite://./data.db insert docs docs.jsonl\n"
      "  sddb find docs '{\"size\": {\"$gt\": 1000}}' --sort size:-1 --limit 5\n"
      "  sddb model fit ft --collection docs --key text && sddb listen docs text ft\n"
      "  sddb index create docs-text ft/text && sddb search docs 'edit photos' --index docs-text\n"
      "\n"
      "Exit status: 0 success, 1 error, 2 usage error, 141 stdout closed early, as for any\n"
      "program stopped by SIGPIPE (`sddb find docs | head` stops quietly).");

  GlobalOptions global;
  app.add_option("--db", global.db, "Database URI, e.g. sqlite://./data.db (overrides the config)")
      ->type_name("URI");
  app.add_option("--config", global.config, "Config file to read instead of ./sddb.toml")
      ->type_name("FILE");

  // --- insert
  InsertOptions insert;
  CLI::App* insert_cmd = app.add_subcommand(
      "insert",
      "Insert the documents of a JSON lines file, or of stdin.\n"
      "One JSON object per line; blank lines and a leading UTF-8 byte order mark are skipped.\n"
      "Documents without _id get a fresh one. Each batch of --batch-size documents is one\n"
      "transaction: a malformed line or a duplicate _id stops the import with an error naming\n"
      "the line, nothing of that batch is stored, and earlier batches stay inserted.\n"
      "Prints {\"inserted\": N}. Shows progress on stderr when it is a terminal.");
  insert_cmd->add_option("COLLECTION", insert.collection, "Collection to insert into")->required();
  insert_cmd->add_option("FILE", insert.file, "JSON lines file, or - for stdin")->required();
  insert_cmd
      ->add_option("--batch-size", insert.batch_size, "Documents per transaction (default 1000)")
      ->type_name("N");
  insert_cmd->footer(
      footer("Examples:\n"
             "  sddb insert docs docs.jsonl\n"
             "  printf '{\"name\": \"a\"}\\n{\"name\": \"b\"}\\n' | sddb insert docs -"));

  // --- find
  FindOptions find;
  std::string find_filter, find_projection;
  CLI::App* find_cmd = app.add_subcommand(
      "find", "Print the documents matching FILTER, one JSON document per line.");
  find_cmd->add_option("COLLECTION", find.collection, "Collection to read")->required();
  CLI::Option* find_filter_opt =
      find_cmd
          ->add_option("FILTER", find_filter,
                       "MongoDB filter, a JSON object (left out: every document)")
          ->type_name("JSON");
  find_cmd
      ->add_option("--sort", find.sort,
                   "Sort by PATH; DIR is 1 or asc (the default), -1 or desc.\n"
                   "Repeat for more keys, the first is the primary one")
      ->type_name("PATH[:DIR]")
      ->allow_extra_args(false);
  find_cmd->add_option("--limit", find.limit, "At most N documents (0: no limit)")->type_name("N");
  find_cmd->add_option("--skip", find.skip, "Skip the first N documents")->type_name("N");
  CLI::Option* find_projection_opt =
      find_cmd
          ->add_option("--projection", find_projection,
                       "MongoDB projection, a JSON object, e.g. '{\"name\": 1, \"_id\": 0}'")
          ->type_name("JSON");
  find_cmd->footer(
      footer("Examples:\n"
             "  sddb find docs\n"
             "  sddb find docs '{\"section\": \"games\", \"size\": {\"$lt\": 100000}}' \\\n"
             "      --sort size:-1 --sort name --limit 10 --projection '{\"name\": 1}'"));

  // --- update
  UpdateOptions update;
  CLI::App* update_cmd = app.add_subcommand(
      "update",
      "Update the documents matching FILTER.\n"
      "UPDATE is an update document of $-operators ($set $unset $inc $push $pull), applied to\n"
      "every matching document, or to the first one with --one. An UPDATE without $-operators,\n"
      "{} included, is a replacement document: it replaces the whole of one matching document\n"
      "(keeping its _id), so it needs --one. Fields and operators mixed are an error.\n"
      "Prints {\"matched\": M, \"modified\": N} (and \"upserted_id\" when one was inserted).");
  update_cmd->add_option("COLLECTION", update.collection, "Collection to update")->required();
  update_cmd
      ->add_option("FILTER", update.filter,
                   "MongoDB filter, a JSON object; '{}' matches every document")
      ->type_name("JSON")
      ->required();
  update_cmd->add_option("UPDATE", update.update, "Update or replacement document, a JSON object")
      ->type_name("JSON")
      ->required();
  update_cmd->add_flag("--one", update.one,
                       "Update only the first matching document (needed to replace)");
  update_cmd->add_flag("--upsert", update.upsert, "Insert a document when nothing matches");
  update_cmd->footer(
      footer("Examples:\n"
             "  sddb update docs '{\"name\": \"a\"}' '{\"$inc\": {\"views\": 1}}'\n"
             "  sddb update docs '{\"name\": \"c\"}' '{\"$set\": {\"size\": 3}}' --one --upsert\n"
             "  sddb update docs '{\"_id\": \"x\"}' '{\"name\": \"x\", \"size\": 0}' --one"));

  // --- delete
  DeleteOptions del;
  CLI::App* delete_cmd = app.add_subcommand(
      "delete",
      "Delete the documents matching FILTER.\n"
      "FILTER must be given: '{}' deletes every document. Prints {\"deleted\": N}.");
  delete_cmd->add_option("COLLECTION", del.collection, "Collection to delete from")->required();
  delete_cmd
      ->add_option("FILTER", del.filter,
                   "MongoDB filter, a JSON object; '{}' matches every document")
      ->type_name("JSON")
      ->required();
  delete_cmd->add_flag("--one", del.one, "Delete only the first matching document");
  delete_cmd->footer(
      footer("Example:\n"
             "  sddb delete docs '{\"size\": {\"$gt\": 1000000}}'"));

  // --- count
  CountOptions count;
  std::string count_filter;
  CLI::App* count_cmd =
      app.add_subcommand("count", "Count the documents matching FILTER. Prints {\"count\": N}.");
  count_cmd->add_option("COLLECTION", count.collection, "Collection to count")->required();
  CLI::Option* count_filter_opt =
      count_cmd
          ->add_option("FILTER", count_filter,
                       "MongoDB filter, a JSON object (left out: every document)")
          ->type_name("JSON");
  count_cmd->footer(
      footer("Example:\n"
             "  sddb count docs '{\"tags\": {\"$in\": [\"red\", \"blue\"]}}'"));

  // --- collections
  CLI::App* collections_cmd = app.add_subcommand(
      "collections", "List the collections, sorted by name: {\"collection\": NAME} per line.");
  collections_cmd->footer(footer("Example:\n  sddb collections --db sqlite://./data.db"));

  // --- create-index
  std::string index_collection, index_path;
  CLI::App* index_cmd =
      app.add_subcommand("create-index",
                         "Index a dotted path so that filters and sorts on it avoid a full scan.\n"
                         "Idempotent. Prints {\"collection\": C, \"index\": PATH}.");
  index_cmd->add_option("COLLECTION", index_collection, "Collection to index")->required();
  index_cmd->add_option("PATH", index_path, "Dotted field path, e.g. size or meta.author")
      ->required();
  index_cmd->footer(footer("Example:\n  sddb create-index docs meta.author"));

  // --- model fit / model add
  CLI::App* model_cmd = app.add_subcommand(
      "model",
      "Add a model: fastText trained here, or from a file or a server.\n"
      "'sddb model fit' trains fastText on a collection's text; 'sddb model add' brings a\n"
      "fastText .bin/.ftz, a TorchScript module or an OpenAI-compatible embeddings server.");
  model_cmd->require_subcommand(1);
  model_cmd->footer(
      footer("Examples:\n"
             "  sddb model fit ft --collection docs --key text --dim 100\n"
             "  sddb model add cc --fasttext cc.en.300.bin"));

  ModelFitOptions fit;
  std::string fit_filter;
  CLI::App* fit_cmd = model_cmd->add_subcommand(
      "fit",
      "Train a fastText model on a collection's text, in the database.\n"
      "The text is field KEY of each document of COLLECTION that matches --filter. The model is\n"
      "stored as the next version of ID (nothing is added when it equals the latest one) and\n"
      "needs no download. Prints {\"type_id\", \"identifier\", \"version\", \"created\", "
      "\"jobs\"}.\n"
      "Shows training progress on stderr when it is a terminal.");
  fit_cmd->add_option("ID", fit.identifier, "Model identifier")->required();
  fit_cmd->add_option("--collection", fit.collection, "Collection to train on")
      ->type_name("C")
      ->required();
  fit_cmd->add_option("--key", fit.key, "Field holding the text, a dotted path")
      ->type_name("K")
      ->required();
  CLI::Option* fit_filter_opt =
      fit_cmd->add_option("--filter", fit_filter, "Train only on documents matching this filter")
          ->type_name("JSON");
  fit_cmd->add_option("--dim", fit.dim, "Length of the vectors (default 100)")->type_name("N");
  fit_cmd->add_option("--epochs", fit.epochs, "Passes over the text (default 5)")->type_name("N");
  fit_cmd->add_option("--min-count", fit.min_count, "Ignore words seen fewer times (default 2)")
      ->type_name("N");
  fit_cmd->add_option("--threads", fit.threads, "Training threads (default: every core)")
      ->type_name("N");
  fit_cmd
      ->add_option("--seed", fit.seed,
                   "Random seed; repeatable with --threads 1 (default: fastText's)")
      ->type_name("S");
  fit_cmd->footer(footer(
      "Examples:\n"
      "  sddb model fit ft --collection packages --key description\n"
      "  sddb model fit ft-games --collection packages --key description \\\n"
      "      --filter '{\"section\": \"games\"}' --dim 50 --epochs 10 --threads 1 --seed 1"));

  ModelAddOptions model_add;
  CLI::App* model_add_cmd = model_cmd->add_subcommand(
      "add",
      "Add a model that was trained elsewhere, or that runs on a server.\n"
      "Exactly one of --fasttext FILE, --torchscript FILE or --http URL. The file's bytes are\n"
      "stored in the database. TorchScript needs a build with libtorch. --http speaks the\n"
      "OpenAI /v1/embeddings protocol; its API key is read from $SDDB_EMBEDDINGS_API_KEY or\n"
      "sddb.toml (never from the command line) and is not stored. Prints the component as\n"
      "{\"type_id\", \"identifier\", \"version\", \"created\", \"jobs\"}.");
  model_add_cmd->add_option("ID", model_add.identifier, "Model identifier")->required();
  CLI::Option* ft_opt =
      model_add_cmd->add_option("--fasttext", model_add.fasttext, "A fastText .bin or .ftz file")
          ->type_name("FILE");
  CLI::Option* ts_opt =
      model_add_cmd
          ->add_option("--torchscript", model_add.torchscript, "A TorchScript module (.pt)")
          ->type_name("FILE");
  CLI::Option* http_opt =
      model_add_cmd
          ->add_option("--http", model_add.http,
                       "Base URL of an embeddings server, e.g. http://127.0.0.1:11434")
          ->type_name("URL");
  ft_opt->excludes(ts_opt)->excludes(http_opt);
  ts_opt->excludes(http_opt);
  model_add_cmd
      ->add_option("--model", model_add.model,
                   "The server's model name (default: the config's embeddings_model)")
      ->type_name("NAME");
  model_add_cmd
      ->add_option("--input-dim", model_add.input_dim,
                   "TorchScript: length of each input vector (required)")
      ->type_name("N");
  model_add_cmd
      ->add_option("--dim", model_add.dim,
                   "Output length (default: found by running the model once)")
      ->type_name("N");
  model_add_cmd->add_option("--batch-size", model_add.batch_size, "Inputs per call (default 64)")
      ->type_name("N");
  model_add_cmd->footer(
      footer("Examples:\n"
             "  sddb model add cc --fasttext cc.en.300.bin\n"
             "  sddb model add enc --torchscript encoder.pt --input-dim 512\n"
             "  sddb model add nomic --http http://127.0.0.1:11434 --model nomic-embed-text"));

  // --- listen
  ListenOptions listen;
  std::string listen_filter;
  CLI::App* listen_cmd = app.add_subcommand(
      "listen",
      "Compute MODEL on field KEY of each document, now and on every write.\n"
      "Adds a listener: its backfill computes the outputs of the existing documents (a job, see\n"
      "'sddb jobs'), then every insert and update of COLLECTION computes them and deletes remove\n"
      "them. Its identifier is MODEL/KEY unless --identifier says otherwise. Prints\n"
      "{\"type_id\", \"identifier\", \"version\", \"created\", \"jobs\"}. Shows progress on\n"
      "stderr when it is a terminal.");
  listen_cmd->add_option("COLLECTION", listen.collection, "Collection to follow")->required();
  listen_cmd->add_option("KEY", listen.key, "Field given to the model, a dotted path")->required();
  listen_cmd->add_option("MODEL", listen.model, "Model identifier")->required();
  CLI::Option* listen_filter_opt =
      listen_cmd
          ->add_option("--filter", listen_filter, "Only documents matching this filter (JSON)")
          ->type_name("JSON");
  listen_cmd->add_option("--identifier", listen.identifier, "Listener identifier (MODEL/KEY)")
      ->type_name("ID");
  CLI::Option* listen_version_opt =
      listen_cmd
          ->add_option("--model-version", listen.model_version.emplace(),
                       "Use this version of MODEL (default: its latest)")
          ->type_name("V");
  listen_cmd->footer(
      footer("Examples:\n"
             "  sddb listen packages description ft\n"
             "  sddb listen packages description ft --filter '{\"section\": \"games\"}' \\\n"
             "      --identifier ft/games --model-version 0"));

  // --- index create
  CLI::App* vindex_cmd =
      app.add_subcommand("index", "Vector indexes over a listener's outputs, for 'sddb search'.");
  vindex_cmd->require_subcommand(1);
  vindex_cmd->footer(footer("Example:\n  sddb index create docs-text ft/text --measure cosine"));
  IndexCreateOptions vindex;
  CLI::App* vindex_create_cmd = vindex_cmd->add_subcommand(
      "create",
      "Create vector index NAME over the outputs of LISTENER.\n"
      "Fills it from the outputs computed so far; later writes keep it current. With\n"
      "--compatible, searches may also give the compatible listener's key, encoded by its\n"
      "model (same output length). Prints {\"type_id\", \"identifier\", \"version\", ...}.");
  vindex_create_cmd->add_option("NAME", vindex.identifier, "Index identifier")->required();
  vindex_create_cmd->add_option("LISTENER", vindex.listener, "Indexing listener, e.g. MODEL/KEY")
      ->required();
  vindex_create_cmd
      ->add_option("--measure", vindex.measure,
                   "cosine (default), dot or l2; scores are higher for nearer vectors")
      ->type_name("M");
  vindex_create_cmd
      ->add_option("--compatible", vindex.compatible, "A second listener whose key may be searched")
      ->type_name("LISTENER");
  vindex_create_cmd
      ->add_option("--type", vindex.type,
                   "auto (default: exact, hnsw past a 16 MiB scan), flat or hnsw")
      ->type_name("T");
  vindex_create_cmd
      ->add_option("--m", vindex.options.m, "hnsw: links per node (default 16; 2x at level 0)")
      ->type_name("N");
  vindex_create_cmd
      ->add_option("--ef-construction", vindex.options.ef_construction,
                   "hnsw: candidates kept while inserting (default 200)")
      ->type_name("N");
  vindex_create_cmd
      ->add_option("--ef-search", vindex.options.ef_search,
                   "hnsw: least candidates kept while searching, raised to -n (default 64)")
      ->type_name("N");
  vindex_create_cmd
      ->add_option("--storage", vindex.options.storage,
                   "hnsw: auto (default: u8 for integers 0..255, else f32), f32, u8,\n"
                   "sq8 or f16 (searched compressed, re-ranked on an f32 copy)")
      ->type_name("S");
  vindex_create_cmd->footer(
      footer("Examples:\n"
             "  sddb index create docs-text ft/text\n"
             "  sddb index create docs-text-l2 ft/text --measure l2\n"
             "  sddb index create docs-fast ft/text --type hnsw --ef-search 100"));

  // --- search
  SearchOptions search;
  std::string search_text, search_id, search_filter, search_projection;
  CLI::App* search_cmd = app.add_subcommand(
      "search",
      "Vector search: the documents nearest to TEXT, best first, with _score.\n"
      "TEXT is encoded by the model of the index's listener, as the value of its key; --id\n"
      "searches by a stored document's vector instead. With --filter, the N best documents\n"
      "that match it. Higher scores are nearer: cosine similarity, dot product or minus the\n"
      "Euclidean distance.");
  search_cmd->add_option("COLLECTION", search.collection, "Collection to search")->required();
  CLI::Option* search_text_opt = search_cmd->add_option("TEXT", search_text, "What to search for");
  CLI::Option* search_index_opt =
      search_cmd->add_option("--index", search.index, "Vector index to search")
          ->type_name("NAME")
          ->required();
  (void)search_index_opt;
  CLI::Option* search_id_opt =
      search_cmd->add_option("--id", search_id, "Search by this document's vector, not TEXT")
          ->type_name("DOC_ID");
  search_id_opt->excludes(search_text_opt);
  search_cmd->add_option("-n", search.n, "Number of results (default 10)")->type_name("N");
  CLI::Option* search_filter_opt =
      search_cmd
          ->add_option("--filter", search_filter, "Only documents matching this filter (JSON)")
          ->type_name("JSON");
  CLI::Option* search_projection_opt =
      search_cmd
          ->add_option("--projection", search_projection,
                       "MongoDB projection, a JSON object; _score is always kept")
          ->type_name("JSON");
  search_cmd->footer(
      footer("Examples:\n"
             "  sddb search packages 'edit photos' --index pkg-desc -n 5 \\\n"
             "      --projection '{\"name\": 1}'\n"
             "  sddb search packages 'chess' --index pkg-desc --filter '{\"section\": \"games\"}'\n"
             "  sddb search packages --id 65f1c0de0000000000000001 --index pkg-desc"));

  // --- show
  std::string show_type, show_id, show_version;
  CLI::App* show_cmd = app.add_subcommand(
      "show",
      "List components: types, identifiers, versions, or one record.\n"
      "No argument: {\"type_id\"} per type. TYPE: {\"type_id\", \"identifier\"} per identifier.\n"
      "TYPE ID: {\"type_id\", \"identifier\", \"version\"} per visible version. TYPE ID VERSION:\n"
      "the record {\"type_id\", \"identifier\", \"version\", \"hidden\", \"body\", "
      "\"created_at_ms\"}.\n"
      "Types: model, listener, vector_index, encoder, dataset, metric.");
  CLI::Option* show_type_opt =
      show_cmd->add_option("TYPE", show_type, "model, listener, vector_index, ...");
  CLI::Option* show_id_opt = show_cmd->add_option("ID", show_id, "Component identifier");
  CLI::Option* show_version_opt =
      show_cmd->add_option("VERSION", show_version, "Version number (0, 1, 2 ...)");
  show_cmd->footer(
      footer("Examples:\n"
             "  sddb show\n"
             "  sddb show listener\n"
             "  sddb show model ft\n"
             "  sddb show model ft 0"));

  // --- remove
  RemoveOptions remove;
  CLI::App* remove_cmd = app.add_subcommand(
      "remove",
      "Remove a component: one version with --version, else every version.\n"
      "What belongs to it only goes too (a listener's outputs, an index's vectors). A version\n"
      "another component uses is an error naming that component, unless --force: then it is\n"
      "hidden, not deleted, and keeps working for its users. Prints {\"type_id\", \"identifier\",\n"
      "\"version\", \"status\"} per version, status \"deleted\" or \"hidden\".");
  remove_cmd->add_option("TYPE", remove.type_id, "model, listener, vector_index, ...")->required();
  remove_cmd->add_option("ID", remove.identifier, "Component identifier")->required();
  CLI::Option* remove_version_opt =
      remove_cmd->add_option("--version", remove.version.emplace(), "Only this version")
          ->type_name("V");
  remove_cmd->add_flag("--force", remove.force, "Hide versions that are in use");
  remove_cmd->footer(
      footer("Examples:\n"
             "  sddb remove vector_index docs-text\n"
             "  sddb remove listener ft/text --version 0 --force"));

  // --- jobs
  std::string jobs_status;
  CLI::App* jobs_cmd =
      app.add_subcommand("jobs",
                         "List jobs (listener backfills, catch-ups), newest first.\n"
                         "Prints {\"id\", \"kind\", \"args\", \"status\", \"progress\", \"error\", "
                         "\"created_at_ms\",\n"
                         "\"updated_at_ms\"} per job; progress goes from 0 to 1.");
  CLI::Option* jobs_status_opt = jobs_cmd
                                     ->add_option("--status", jobs_status,
                                                  "Only jobs with this status: pending, "
                                                  "running, success or failed")
                                     ->type_name("S");
  jobs_cmd->footer(
      footer("Examples:\n"
             "  sddb jobs\n"
             "  sddb jobs --status failed"));

  const std::string bad_command = check_command(
      argc, argv,
      {insert_cmd, find_cmd, update_cmd, delete_cmd, count_cmd, collections_cmd, index_cmd,
       model_cmd, listen_cmd, vindex_cmd, search_cmd, show_cmd, remove_cmd, jobs_cmd});
  if (!bad_command.empty()) {
    print_error("usage", bad_command + " (see 'sddb --help')");
    return kExitUsage;
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == static_cast<int>(CLI::ExitCodes::Success)) {
      return print_help(app, e);  // --help
    }
    print_error("usage", std::string(e.what()) + help_hint(app));
    return kExitUsage;
  }
  // An argument given as '' is not an argument left out.
  if (find_filter_opt->count() > 0) find.filter = find_filter;
  if (find_projection_opt->count() > 0) find.projection = find_projection;
  if (count_filter_opt->count() > 0) count.filter = count_filter;
  if (fit_filter_opt->count() > 0) fit.filter = fit_filter;
  if (listen_filter_opt->count() > 0) listen.filter = listen_filter;
  if (listen_version_opt->count() == 0) listen.model_version.reset();
  if (search_text_opt->count() > 0) search.text = search_text;
  if (search_id_opt->count() > 0) search.id = search_id;
  if (search_filter_opt->count() > 0) search.filter = search_filter;
  if (search_projection_opt->count() > 0) search.projection = search_projection;
  if (remove_version_opt->count() == 0) remove.version.reset();
  std::vector<std::string> show_args;
  for (const auto& [opt, value] :
       {std::pair{show_type_opt, &show_type}, std::pair{show_id_opt, &show_id},
        std::pair{show_version_opt, &show_version}}) {
    if (opt->count() > 0) show_args.push_back(*value);
  }
  std::optional<std::string> jobs_wanted;
  if (jobs_status_opt->count() > 0) jobs_wanted = jobs_status;

  try {
    LazyDb db(global);
    if (insert_cmd->parsed()) run_insert(db, insert);
    if (find_cmd->parsed()) run_find(db, find);
    if (update_cmd->parsed()) run_update(db, update);
    if (delete_cmd->parsed()) run_delete(db, del);
    if (count_cmd->parsed()) run_count(db, count);
    if (collections_cmd->parsed()) run_collections(db);
    if (index_cmd->parsed()) run_create_index(db, index_collection, index_path);
    if (fit_cmd->parsed()) run_model_fit(db, fit);
    if (model_add_cmd->parsed()) run_model_add(db, model_add);
    if (listen_cmd->parsed()) run_listen(db, listen);
    if (vindex_create_cmd->parsed()) run_index_create(db, vindex);
    if (search_cmd->parsed()) run_search(db, search);
    if (show_cmd->parsed()) run_show(db, show_args);
    if (remove_cmd->parsed()) run_remove(db, remove);
    if (jobs_cmd->parsed()) run_jobs(db, jobs_wanted);
  } catch (const OutputClosed&) {
    return kExitOutputClosed;
  } catch (const UsageError& e) {
    print_error("usage", std::string(e.what()) + help_hint(app));
    return kExitUsage;
  } catch (const sddb::Error& e) {
    print_error(sddb::to_string(e.code()), e.what());
    return kExitError;
  } catch (const std::exception& e) {
    print_error("internal", e.what());
    return kExitError;
  }
  return 0;
}
