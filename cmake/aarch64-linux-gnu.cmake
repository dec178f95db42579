# Cross-builds for ARM64 Linux with Debian's g++-aarch64-linux-gnu against a folder of Debian's arm64
# packages (scripts/arm64_sysroot.sh): cmake -DCMAKE_TOOLCHAIN_FILE=cmake/aarch64-linux-gnu.cmake
# -DFLOTILLA_ARM64_SYSROOT=<folder>. scripts/test_arm64_cli.sh does it and runs the result under qemu.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(CMAKE_C_COMPILER aarch64-linux-gnu-gcc)
set(CMAKE_CXX_COMPILER aarch64-linux-gnu-g++)
if(NOT FLOTILLA_ARM64_SYSROOT)
  set(FLOTILLA_ARM64_SYSROOT "$ENV{FLOTILLA_ARM64_SYSROOT}")
endif()
if(NOT IS_DIRECTORY "${FLOTILLA_ARM64_SYSROOT}/usr/lib/aarch64-linux-gnu")
  message(FATAL_ERROR "FLOTILLA_ARM64_SYSROOT ('${FLOTILLA_ARM64_SYSROOT}') is not an arm64 sysroot; scripts/arm64_sysroot.sh makes one")
endif()
list(APPEND CMAKE_TRY_COMPILE_PLATFORM_VARIABLES FLOTILLA_ARM64_SYSROOT)

set(CMAKE_SYSROOT "${FLOTILLA_ARM64_SYSROOT}")
set(CMAKE_FIND_ROOT_PATH "${FLOTILLA_ARM64_SYSROOT}")
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)
set(ENV{PKG_CONFIG_SYSROOT_DIR} "${FLOTILLA_ARM64_SYSROOT}")
set(ENV{PKG_CONFIG_LIBDIR} "${FLOTILLA_ARM64_SYSROOT}/usr/lib/aarch64-linux-gnu/pkgconfig:${FLOTILLA_ARM64_SYSROOT}/usr/share/pkgconfig")
# libtorch's own dependencies (OpenCV, FFmpeg, ...) are resolved at link time inside the folder.
set(CMAKE_EXE_LINKER_FLAGS_INIT
    "-Wl,-rpath-link,${FLOTILLA_ARM64_SYSROOT}/usr/lib/aarch64-linux-gnu:${FLOTILLA_ARM64_SYSROOT}/lib/aarch64-linux-gnu")
