# Finds MariaDB Connector/C (Debian: libmariadb-dev), the C client library under Connector/C++.
# The storage writer uses it directly for array-bound prepared statements (bulk execution),
# which Connector/C++ 1.1 does not offer. Defines MariaDBClient_FOUND and the imported target
# MariaDB::client.
find_path(MariaDBClient_INCLUDE_DIR NAMES mysql.h mariadb_stmt.h PATH_SUFFIXES mariadb)
find_library(MariaDBClient_LIBRARY NAMES mariadb)

include(FindPackageHandleStandardArgs)
find_package_handle_standard_args(MariaDBClient REQUIRED_VARS MariaDBClient_INCLUDE_DIR MariaDBClient_LIBRARY)

if(MariaDBClient_FOUND AND NOT TARGET MariaDB::client)
  add_library(MariaDB::client UNKNOWN IMPORTED)
  set_target_properties(MariaDB::client PROPERTIES
    IMPORTED_LOCATION "${MariaDBClient_LIBRARY}"
    INTERFACE_SYSTEM_INCLUDE_DIRECTORIES "${MariaDBClient_INCLUDE_DIR}"
    INTERFACE_INCLUDE_DIRECTORIES "${MariaDBClient_INCLUDE_DIR}")
endif()
mark_as_advanced(MariaDBClient_INCLUDE_DIR MariaDBClient_LIBRARY)
