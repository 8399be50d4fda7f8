# Injected into FLARE's CMake project (CMAKE_PROJECT_flare_INCLUDE) so that it builds
# offline: Eigen, nlohmann_json and pybind11 come from Debian/pip instead of downloads.
include(ExternalProject)
find_package(pybind11 CONFIG REQUIRED)
find_package(nlohmann_json CONFIG REQUIRED)

function(ExternalProject_Add name)
  if(name STREQUAL "eigen_project")
    add_custom_target(eigen_project)
    set_property(TARGET eigen_project PROPERTY _EP_SOURCE_DIR /usr/include/eigen3)
  else()
    _ExternalProject_Add(${name} ${ARGN})
  endif()
endfunction()
