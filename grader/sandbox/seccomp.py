"""A seccomp filter for the worker, written as raw classic-BPF (no libseccomp needed).

bubblewrap loads it with `--seccomp FD`.  The filter denies, with EPERM, the
system calls a grading worker never needs and an attacker would: sockets other
than AF_UNIX (EACCES), ptrace, mount and namespace calls, module and kexec
loading, bpf, perf events, keyrings, io_uring; and memfd_create where no
memory cgroup charges a memfd's pages to the job (`deny_memfd`): a memfd filled
with `write` is memory that neither RLIMIT_AS nor a tmpfs size sees.  x86_64 only: on other machines
`filter_program()` returns None and the layer is reported as absent.
"""

from __future__ import annotations

import platform
import struct

AUDIT_ARCH_X86_64 = 0xC000003E
X32_SYSCALL_BIT = 0x40000000
AF_UNIX = 1
EPERM, EACCES = 1, 13

RET_ALLOW = 0x7FFF0000
RET_KILL_PROCESS = 0x80000000
RET_ERRNO = 0x00050000

# offsets in struct seccomp_data
_NR, _ARCH, _ARG0 = 0, 4, 16
# classic BPF opcodes
_LD_ABS, _JEQ, _JGE, _RET = 0x20, 0x15, 0x35, 0x06

SYS_SOCKET = 41
DENIED_X86_64 = {
    "ptrace": 101, "pivot_root": 155, "mount": 165, "umount2": 166, "swapon": 167, "swapoff": 168,
    "reboot": 169, "sethostname": 170, "setdomainname": 171, "init_module": 175, "delete_module": 176,
    "kexec_load": 246, "add_key": 248, "request_key": 249, "keyctl": 250, "unshare": 272,
    "perf_event_open": 298, "open_by_handle_at": 304, "setns": 308, "process_vm_readv": 310,
    "process_vm_writev": 311, "finit_module": 313, "kexec_file_load": 320, "bpf": 321,
    "userfaultfd": 323, "io_uring_setup": 425,
}
SYS_MEMFD_CREATE = 319


def filter_program(*, deny_memfd: bool = False) -> bytes | None:
    """The compiled filter (an array of struct sock_filter), or None off x86_64.

    `deny_memfd` also refuses memfd_create (EPERM): for machines where no memory cgroup holds.
    """
    if platform.machine() not in ("x86_64", "AMD64"):
        return None
    denied = sorted({*DENIED_X86_64.values(), *((SYS_MEMFD_CREATE,) if deny_memfd else ())})
    return b"".join(struct.pack("<HBBI", *ins) for ins in _instructions(denied))


def _instructions(denied: list[int]) -> list[tuple[int, int, int, int]]:
    """Straight-line program; a jump's offset counts the instructions after it (forward only).

    pc  0 ld arch         1 jeq x86_64 (else 2: kill)   3 ld nr   4 jge x32 -> EPERM
    pc  5 jeq socket -> SOCK   6 .. 6+n-1 jeq denied[i] -> EPERM   6+n allow
    SOCK = 7+n ld arg0   8+n jeq AF_UNIX -> 10+n   9+n EACCES   10+n allow   EPERM = 11+n
    """
    n = len(denied)
    sock, eperm = 7 + n, 11 + n

    def to(target: int, pc: int) -> int:
        return target - (pc + 1)

    prog = [
        (_LD_ABS, 0, 0, _ARCH),
        (_JEQ, 1, 0, AUDIT_ARCH_X86_64),
        (_RET, 0, 0, RET_KILL_PROCESS),  # another ABI (i386 via int 0x80): nothing legitimate uses it here
        (_LD_ABS, 0, 0, _NR),
        (_JGE, to(eperm, 4), 0, X32_SYSCALL_BIT),
        (_JEQ, to(sock, 5), 0, SYS_SOCKET),
    ]
    prog += [(_JEQ, to(eperm, 6 + i), 0, nr) for i, nr in enumerate(denied)]
    prog += [
        (_RET, 0, 0, RET_ALLOW),
        (_LD_ABS, 0, 0, _ARG0),
        (_JEQ, to(10 + n, 8 + n), 0, AF_UNIX),
        (_RET, 0, 0, RET_ERRNO | EACCES),
        (_RET, 0, 0, RET_ALLOW),
        (_RET, 0, 0, RET_ERRNO | EPERM),
    ]
    return prog
