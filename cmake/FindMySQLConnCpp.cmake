# Finds MySQL Connector/C++ 1.1 (Debian: libmysqlcppconn-dev), the JDBC-style `sql::` API
# (<mysql_driver.h>, <cppconn/...>), library mysqlcppconn. It ships no CMake config.
# Defines MySQLConnCpp_FOUND, MySQLConnCpp_VERSION and the imported target MySQLConnCpp::MySQLConnCpp
# (its headers are system headers, so -Werror on our code does not apply to them).
find_path(MySQLConnCpp_INCLUDE_DIR NAMES mysql_driver.h cppconn/driver.h)
find_library(MySQLConnCpp_LIBRARY NAMES mysqlcppconn)

if(MySQLConnCpp_INCLUDE_DIR AND EXISTS "${MySQLConnCpp_INCLUDE_DIR}/cppconn/version_info.h")
  file(STRINGS "${MySQLConnCpp_INCLUDE_DIR}/cppconn/version_info.h" _mysqlcppconn_version_line
       REGEX "^#define MYCPPCONN_DM_VERSION ")
  string(REGEX REPLACE "^#define MYCPPCONN_DM_VERSION +\"([0-9.]+)\".*" "\\1" MySQLConnCpp_VERSION
         "${_mysqlcppconn_version_line}")
endif()

include(FindPackageHandleStandardArgs)
find_package_handle_standard_args(MySQLConnCpp
  REQUIRED_VARS MySQLConnCpp_LIBRARY MySQLConnCpp_INCLUDE_DIR
  VERSION_VAR MySQLConnCpp_VERSION)

if(MySQLConnCpp_FOUND AND NOT TARGET MySQLConnCpp::MySQLConnCpp)
  add_library(MySQLConnCpp::MySQLConnCpp UNKNOWN IMPORTED)
  set_target_properties(MySQLConnCpp::MySQLConnCpp PROPERTIES
    IMPORTED_LOCATION "${MySQLConnCpp_LIBRARY}"
    INTERFACE_INCLUDE_DIRECTORIES "${MySQLConnCpp_INCLUDE_DIR}")
endif()
mark_as_advanced(MySQLConnCpp_INCLUDE_DIR MySQLConnCpp_LIBRARY)
