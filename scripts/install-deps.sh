#!/usr/bin/env bash
# Installs the Debian 12 packages txengine needs, only those that are missing.
set -euo pipefail
packages=(build-essential cmake libcaf-dev libcli11-dev libssl-dev libspdlog-dev libgtest-dev libgmock-dev libbenchmark-dev
          libprotobuf-dev protobuf-compiler clang libclang-rt-14-dev libmysqlcppconn-dev libmariadb-dev librdkafka-dev libgoogle-perftools-dev libtomlplusplus-dev libcpp-httplib-dev nlohmann-json3-dev libcurl4-openssl-dev mariadb-server mariadb-client kcat
          gnuplot-nox openssl curl)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
