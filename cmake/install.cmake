# Installation (`cmake --install build --prefix P`, `make install PREFIX=P`). Included once,
# at the end of the top-level CMakeLists.txt (which itself installs bin/eqlint):
#
#   share/man/man1/eqlint.1             the manual page
#   lib/libeqx.a, include/eqx.h         the runtime library and its one header
#   lib/pkgconfig/eqx.pc                `cc app.c $(pkg-config --cflags --libs eqx)`
#   lib/cmake/eqx/eqxConfig.cmake       `find_package(eqx)` + `target_link_libraries(app eqx::eqx)`
#     eqxConfigVersion.cmake, eqxTargets*.cmake
#
# Directories follow GNUInstallDirs (lib/ becomes lib/x86_64-linux-gnu/ under /usr on
# Debian). Both the pkg-config file and the CMake package locate the prefix relative to
# their own directory, so a tree installed with --prefix (chosen after configuring) or
# copied elsewhere still works.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

install(FILES ${PROJECT_SOURCE_DIR}/docs/eqlint.1 DESTINATION ${CMAKE_INSTALL_MANDIR}/man1)

if(TARGET eqx)
  # The include directory the runtime declares is a source-tree path; installed consumers
  # must see the installed header instead (install(EXPORT) rejects source paths). This
  # INSTALL_INTERFACE entry is the only one: `INCLUDES DESTINATION` would add it twice.
  set_target_properties(eqx PROPERTIES INTERFACE_INCLUDE_DIRECTORIES
    "$<BUILD_INTERFACE:${PROJECT_SOURCE_DIR}/runtime/include>;$<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>")
  # libeqx's link dependencies, translated for the installed package. OpenBLAS is linked by
  # absolute path in the build tree; an installed package must find it again on the
  # consumer's machine, so the export names the imported target eqx::openblas that
  # eqxConfig.cmake defines with find_library. Threads::Threads needs find_dependency(Threads)
  # in eqxConfig.cmake. The same walk writes the pkg-config Libs, so both stay in step with
  # runtime/CMakeLists.txt. Other entries are kept as they are.
  get_target_property(_eqx_links eqx INTERFACE_LINK_LIBRARIES)
  set(_eqx_mapped "")
  set(EQX_PC_DEPS "")
  set(EQX_FIND_DEPENDENCIES "")
  if(_eqx_links)
    foreach(_lib IN LISTS _eqx_links)
      if(EQX_OPENBLAS_LIB AND _lib STREQUAL EQX_OPENBLAS_LIB)
        list(APPEND _eqx_mapped "$<BUILD_INTERFACE:${_lib}>" "$<INSTALL_INTERFACE:eqx::openblas>")
        string(APPEND EQX_PC_DEPS " -lopenblas")
      elseif(_lib STREQUAL "Threads::Threads")
        list(APPEND _eqx_mapped "${_lib}")
        string(APPEND EQX_PC_DEPS " -pthread")
        string(APPEND EQX_FIND_DEPENDENCIES "find_dependency(Threads)\n")
      elseif(_lib MATCHES "^[A-Za-z0-9_]+$")
        list(APPEND _eqx_mapped "${_lib}")
        string(APPEND EQX_PC_DEPS " -l${_lib}")
      else()
        list(APPEND _eqx_mapped "${_lib}")
      endif()
    endforeach()
    set_target_properties(eqx PROPERTIES INTERFACE_LINK_LIBRARIES "${_eqx_mapped}")
  endif()

  install(TARGETS eqx EXPORT eqxTargets
          ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
          LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR})
  install(FILES ${PROJECT_SOURCE_DIR}/runtime/include/eqx.h
          DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})

  set(_eqx_cmake_dir ${CMAKE_INSTALL_LIBDIR}/cmake/eqx)
  install(EXPORT eqxTargets NAMESPACE eqx:: DESTINATION ${_eqx_cmake_dir})
  configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/eqxConfig.cmake.in
    ${PROJECT_BINARY_DIR}/eqxConfig.cmake INSTALL_DESTINATION ${_eqx_cmake_dir})
  # 0.x: minor versions may break the API, so only the same minor version is compatible.
  write_basic_package_version_file(${PROJECT_BINARY_DIR}/eqxConfigVersion.cmake
    VERSION ${PROJECT_VERSION} COMPATIBILITY SameMinorVersion)
  install(FILES ${PROJECT_BINARY_DIR}/eqxConfig.cmake ${PROJECT_BINARY_DIR}/eqxConfigVersion.cmake
          DESTINATION ${_eqx_cmake_dir})

  # pkg-config: ${pcfiledir} is the directory holding eqx.pc; walk up to the prefix.
  if(IS_ABSOLUTE "${CMAKE_INSTALL_LIBDIR}")
    set(EQX_PC_PREFIX "${CMAKE_INSTALL_PREFIX}")
    set(EQX_PC_LIBDIR "${CMAKE_INSTALL_LIBDIR}")
  else()
    file(RELATIVE_PATH _up "/${CMAKE_INSTALL_LIBDIR}/pkgconfig" "/")
    string(REGEX REPLACE "/$" "" _up "${_up}")
    set(EQX_PC_PREFIX "\${pcfiledir}/${_up}")
    set(EQX_PC_LIBDIR "\${prefix}/${CMAKE_INSTALL_LIBDIR}")
  endif()
  if(IS_ABSOLUTE "${CMAKE_INSTALL_INCLUDEDIR}")
    set(EQX_PC_INCLUDEDIR "${CMAKE_INSTALL_INCLUDEDIR}")
  else()
    set(EQX_PC_INCLUDEDIR "\${prefix}/${CMAKE_INSTALL_INCLUDEDIR}")
  endif()
  configure_file(${PROJECT_SOURCE_DIR}/cmake/eqx.pc.in ${PROJECT_BINARY_DIR}/eqx.pc @ONLY)
  install(FILES ${PROJECT_BINARY_DIR}/eqx.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
endif()

# The installed tree, checked by ctest: files in place, a C program built against libeqx
# through pkg-config, and a CMake project through find_package(eqx).
if(EQL_TESTS AND TARGET eqx)
  foreach(_case files pkgconfig cmake_package)
    add_test(NAME install_${_case}
             COMMAND sh ${PROJECT_SOURCE_DIR}/tests/install_test.sh ${_case}
                     ${PROJECT_BINARY_DIR} ${CMAKE_INSTALL_LIBDIR} ${EQL_SANITIZE}
                     ${CMAKE_COMMAND} ${CMAKE_C_COMPILER}
             WORKING_DIRECTORY ${PROJECT_SOURCE_DIR})
    # cmake --install rewrites install_manifest.txt in the build directory.
    set_tests_properties(install_${_case} PROPERTIES RESOURCE_LOCK eql_install TIMEOUT 120
                         SKIP_RETURN_CODE 77)
  endforeach()
endif()
