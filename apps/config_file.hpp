#pragma once
// `txengine serve --config FILE`: the settings of a node in one TOML file (toml++, Debian's
// libtomlplusplus-dev). Every key is optional and keeps its built-in default; an unknown key or
// a value of the wrong type or range is an error that names it (a typo must not silently fall
// back to a default in a payment system). Command-line flags given after --config override
// the file. config/txengine.example.toml lists every key.
#include <string>

#include "node/engine.hpp"
#include "protocol/server.hpp"

namespace txengine {

struct serve_settings {
  engine_config engine;
  wire::server_config server;
  std::string listen;     //!< HOST:PORT, empty = the server's default
  std::string keys_file;  //!< empty = development mode
  //! The MySQL password, read at start from this file (owner-only) instead of the URI; else
  //! from the environment variable TXENGINE_MYSQL_PASSWORD when set.
  std::string mysql_password_file;
  //! [kafka]: publication of final states (needs [storage]; the engine takes it from there).
  publication_config kafka;
};

//! Applies the file's keys on top of `settings`. False with `error` ("FILE: key: reason").
bool load_config_file(const std::string& path, serve_settings& settings, std::string& error);
//! The same from TOML text (tests); `source` names it in errors.
bool load_config_text(const std::string& text, const std::string& source, serve_settings& settings,
                      std::string& error);

}  // namespace txengine
