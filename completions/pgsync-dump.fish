# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_pgsync_dump_global_optspecs
    string join \n q/quiet h/help V/version
end

function __fish_pgsync_dump_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_pgsync_dump_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_pgsync_dump_using_subcommand
    set -l cmd (__fish_pgsync_dump_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c pgsync-dump -n "__fish_pgsync_dump_needs_command" -s q -l quiet -d 'For scripts: results only. No progress bar and no warnings or notes on stderr; errors are still reported on stderr'
complete -c pgsync-dump -n "__fish_pgsync_dump_needs_command" -s h -l help -d 'Print help'
complete -c pgsync-dump -n "__fish_pgsync_dump_needs_command" -s V -l version -d 'Print version'
complete -c pgsync-dump -n "__fish_pgsync_dump_needs_command" -f -a "analyze" -d 'Compare every page table\'s kernel half with init_mm\'s and give a verdict'
complete -c pgsync-dump -n "__fish_pgsync_dump_needs_command" -f -a "info" -d 'What the dump is: format, release, build-id, paging, KASLR, CPUs'
complete -c pgsync-dump -n "__fish_pgsync_dump_needs_command" -f -a "dmesg" -d 'The kernel log from the printk ring buffer, with timestamps like dmesg'
complete -c pgsync-dump -n "__fish_pgsync_dump_needs_command" -f -a "tasks" -d 'Every task: pid, comm, mm, pgd, CPU it ran on, whether its page table diverged'
complete -c pgsync-dump -n "__fish_pgsync_dump_needs_command" -f -a "extract" -d 'Write a minimal self-contained reproduction of the analysis'
complete -c pgsync-dump -n "__fish_pgsync_dump_needs_command" -f -a "vtop" -d 'Translate a virtual address level by level, with raw entries and their addresses'
complete -c pgsync-dump -n "__fish_pgsync_dump_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c pgsync-dump -n "__fish_pgsync_dump_using_subcommand analyze" -l vmlinux -d 'vmlinux with DWARF; default: searched next to the dump, in the standard debug paths, the debuginfod cache, then on the DEBUGINFOD_URLS servers' -r -F
complete -c pgsync-dump -n "__fish_pgsync_dump_using_subcommand analyze" -l debuginfo -d 'Where symbols and types come from: a DWARF vmlinux, or the dump\'s own tables' -r -f -a "auto\t'A DWARF vmlinux if one is found, else the dump\'s own kallsyms and BTF'
dwarf\t'Only a DWARF vmlinux'
btf\t'Only the dump\'s kallsyms (or --system-map) and BTF (or --btf): no vmlinux'"
complete -c pgsync-dump -n "__fish_pgsync_dump_using_subcommand analyze" -l system-map -d 'Symbols from this System.map when the dump has no kallsyms in VMCOREINFO (before Linux 6.0); default: System.map next to the dump, else /boot/System.map-RELEASE' -r -F
complete -c pgsync-dump -n "__fish_pgsync_dump_using_subcommand analyze" -l btf -d 'Types from this BTF file (e.g. a copy of /sys/kernel/btf/vmlinux) when the dump\'s memory holds none' -r -F
complete -c pgsync-dump -n "__fish_pgsync_dump_using_subcommand analyze" -l format -r -f -a "table\t''
json\t''
jsonl\t'One JSON object per dump per line (archive mode; docs/fleet.md)'"
complete -c pgsync-dump -n "__fish_pgsync_dump_using_subcommand analyze" -l pid -d 'Limit the report to the page tables of these tasks (the check still reads everything)' -r
complete -c pgsync-dump -n "__fish_pgsync_dump_using_subcommand analyze" -l sync-mask -d 'Replay with another ARCH_PAGE_TABLE_SYNC_MASK (a counterfactual); default: the kernel\'s own (p4d on 4-level, pgd on 5-level)' -r -f -a "pgd\t''
p4d\t''
none\t''"
complete -c pgsync-dump -n "__fish_pgsync_dump_using_subcommand analyze" -l jobs -d 'Archive mode: dumps analyzed at once [default: the number of CPUs]' -r
complete -c pgsync-dump -n "__fish_pgsync_dump_using_subcommand analyze" -l timeout -d 'Archive mode: seconds one dump may take before it becomes an error line (0: no limit)' -r
complete -c pgsync-dump -n "__fish_pgsync_dump_using_subcommand analyze" -l live -d 'Read the running kernel: short for /proc/kcore (needs root)'
complete -c pgsync-dump -n "__fish_pgsync_dump_using_subcommand analyze" -l offline -d 'Never use the network: no debuginfod download (its cache is still read)'
complete -c pgsync-dump -n "__fish_pgsync_dump_using_subcommand analyze" -l replay -d 'Replay the fixed kernel\'s p?d_populate_kernel() + arch_sync_kernel_mappings() over the findings (on a copy-on-write overlay; the dump is never written)'
complete -c pgsync-dump -n "__fish_pgsync_dump_using_subcommand analyze" -s q -l quiet -d 'For scripts: results only. No progress bar and no warnings or notes on stderr; errors are still reported on stderr'
complete -c pgsync-dump -n "__fish_pgsync_dump_using_subcommand analyze" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c pgsync-dump -n "__fish_pgsync_dump_using_subcommand info" -l vmlinux -d 'vmlinux with DWARF; default: searched next to the dump, in the standard debug paths, the debuginfod cache, then on the DEBUGINFOD_URLS servers' -r -F
complete -c pgsync-dump -n "__fish_pgsync_dump_using_subcommand info" -l debuginfo -d 'Where symbols and types come from: a DWARF vmlinux, or the dump\'s own tables' -r -f -a "auto\t'A DWARF vmlinux if one is found, else the dump\'s own kallsyms and BTF'
dwarf\t'Only a DWARF vmlinux'
btf\t'Only the dump\'s kallsyms (or --system-map) and BTF (or --btf): no vmlinux'"
complete -c pgsync-dump -n "__fish_pgsync_dump_using_subcommand info" -l system-map -d 'Symbols from this System.map when the dump has no kallsyms in VMCOREINFO (before Linux 6.0); default: System.map next to the dump, else /boot/System.map-RELEASE' -r -F
complete -c pgsync-dump -n "__fish_pgsync_dump_using_subcommand info" -l btf -d 'Types from this BTF file (e.g. a copy of /sys/kernel/btf/vmlinux) when the dump\'s memory holds none' -r -F
complete -c pgsync-dump -n "__fish_pgsync_dump_using_subcommand info" -l format -r -f -a "table\t''
json\t''"
complete -c pgsync-dump -n "__fish_pgsync_dump_using_subcommand info" -l live -d 'Read the running kernel: short for /proc/kcore (needs root)'
complete -c pgsync-dump -n "__fish_pgsync_dump_using_subcommand info" -l offline -d 'Never use the network: no debuginfod download (its cache is still read)'
complete -c pgsync-dump -n "__fish_pgsync_dump_using_subcommand info" -s q -l quiet -d 'For scripts: results only. No progress bar and no warnings or notes on stderr; errors are still reported on stderr'
complete -c pgsync-dump -n "__fish_pgsync_dump_using_subcommand info" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c pgsync-dump -n "__fish_pgsync_dump_using_subcommand dmesg" -l vmlinux -d 'vmlinux with DWARF; default: searched next to the dump, in the standard debug paths, the debuginfod cache, then on the DEBUGINFOD_URLS servers' -r -F
complete -c pgsync-dump -n "__fish_pgsync_dump_using_subcommand dmesg" -l debuginfo -d 'Where symbols and types come from: a DWARF vmlinux, or the dump\'s own tables' -r -f -a "auto\t'A DWARF vmlinux if one is found, else the dump\'s own kallsyms and BTF'
dwarf\t'Only a DWARF vmlinux'
btf\t'Only the dump\'s kallsyms (or --system-map) and BTF (or --btf): no vmlinux'"
complete -c pgsync-dump -n "__fish_pgsync_dump_using_subcommand dmesg" -l system-map -d 'Symbols from this System.map when the dump has no kallsyms in VMCOREINFO (before Linux 6.0); default: System.map next to the dump, else /boot/System.map-RELEASE' -r -F
complete -c pgsync-dump -n "__fish_pgsync_dump_using_subcommand dmesg" -l btf -d 'Types from this BTF file (e.g. a copy of /sys/kernel/btf/vmlinux) when the dump\'s memory holds none' -r -F
complete -c pgsync-dump -n "__fish_pgsync_dump_using_subcommand dmesg" -l live -d 'Read the running kernel: short for /proc/kcore (needs root)'
complete -c pgsync-dump -n "__fish_pgsync_dump_using_subcommand dmesg" -l offline -d 'Never use the network: no debuginfod download (its cache is still read)'
complete -c pgsync-dump -n "__fish_pgsync_dump_using_subcommand dmesg" -s q -l quiet -d 'For scripts: results only. No progress bar and no warnings or notes on stderr; errors are still reported on stderr'
complete -c pgsync-dump -n "__fish_pgsync_dump_using_subcommand dmesg" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c pgsync-dump -n "__fish_pgsync_dump_using_subcommand tasks" -l vmlinux -d 'vmlinux with DWARF; default: searched next to the dump, in the standard debug paths, the debuginfod cache, then on the DEBUGINFOD_URLS servers' -r -F
complete -c pgsync-dump -n "__fish_pgsync_dump_using_subcommand tasks" -l debuginfo -d 'Where symbols and types come from: a DWARF vmlinux, or the dump\'s own tables' -r -f -a "auto\t'A DWARF vmlinux if one is found, else the dump\'s own kallsyms and BTF'
dwarf\t'Only a DWARF vmlinux'
btf\t'Only the dump\'s kallsyms (or --system-map) and BTF (or --btf): no vmlinux'"
complete -c pgsync-dump -n "__fish_pgsync_dump_using_subcommand tasks" -l system-map -d 'Symbols from this System.map when the dump has no kallsyms in VMCOREINFO (before Linux 6.0); default: System.map next to the dump, else /boot/System.map-RELEASE' -r -F
complete -c pgsync-dump -n "__fish_pgsync_dump_using_subcommand tasks" -l btf -d 'Types from this BTF file (e.g. a copy of /sys/kernel/btf/vmlinux) when the dump\'s memory holds none' -r -F
complete -c pgsync-dump -n "__fish_pgsync_dump_using_subcommand tasks" -l format -r -f -a "table\t''
json\t''"
complete -c pgsync-dump -n "__fish_pgsync_dump_using_subcommand tasks" -l live -d 'Read the running kernel: short for /proc/kcore (needs root)'
complete -c pgsync-dump -n "__fish_pgsync_dump_using_subcommand tasks" -l offline -d 'Never use the network: no debuginfod download (its cache is still read)'
complete -c pgsync-dump -n "__fish_pgsync_dump_using_subcommand tasks" -s q -l quiet -d 'For scripts: results only. No progress bar and no warnings or notes on stderr; errors are still reported on stderr'
complete -c pgsync-dump -n "__fish_pgsync_dump_using_subcommand tasks" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c pgsync-dump -n "__fish_pgsync_dump_using_subcommand extract" -l vmlinux -d 'vmlinux with DWARF; default: searched next to the dump, in the standard debug paths, the debuginfod cache, then on the DEBUGINFOD_URLS servers' -r -F
complete -c pgsync-dump -n "__fish_pgsync_dump_using_subcommand extract" -l debuginfo -d 'Where symbols and types come from: a DWARF vmlinux, or the dump\'s own tables' -r -f -a "auto\t'A DWARF vmlinux if one is found, else the dump\'s own kallsyms and BTF'
dwarf\t'Only a DWARF vmlinux'
btf\t'Only the dump\'s kallsyms (or --system-map) and BTF (or --btf): no vmlinux'"
complete -c pgsync-dump -n "__fish_pgsync_dump_using_subcommand extract" -l system-map -d 'Symbols from this System.map when the dump has no kallsyms in VMCOREINFO (before Linux 6.0); default: System.map next to the dump, else /boot/System.map-RELEASE' -r -F
complete -c pgsync-dump -n "__fish_pgsync_dump_using_subcommand extract" -l btf -d 'Types from this BTF file (e.g. a copy of /sys/kernel/btf/vmlinux) when the dump\'s memory holds none' -r -F
complete -c pgsync-dump -n "__fish_pgsync_dump_using_subcommand extract" -s o -l output -d 'Output directory (created if needed)' -r -F
complete -c pgsync-dump -n "__fish_pgsync_dump_using_subcommand extract" -l live -d 'Read the running kernel: short for /proc/kcore (needs root)'
complete -c pgsync-dump -n "__fish_pgsync_dump_using_subcommand extract" -l offline -d 'Never use the network: no debuginfod download (its cache is still read)'
complete -c pgsync-dump -n "__fish_pgsync_dump_using_subcommand extract" -l kdump -d 'Write DIR/vmcore kdump-compressed (zlib pages, as `makedumpfile -c` does) instead of ELF: a third of the size, e.g. when it keeps the kallsyms and BTF pages'
complete -c pgsync-dump -n "__fish_pgsync_dump_using_subcommand extract" -s q -l quiet -d 'For scripts: results only. No progress bar and no warnings or notes on stderr; errors are still reported on stderr'
complete -c pgsync-dump -n "__fish_pgsync_dump_using_subcommand extract" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c pgsync-dump -n "__fish_pgsync_dump_using_subcommand vtop" -l pid -d 'Walk this task\'s page table instead of init_mm\'s' -r
complete -c pgsync-dump -n "__fish_pgsync_dump_using_subcommand vtop" -l vmlinux -d 'vmlinux with DWARF; default: searched next to the dump, in the standard debug paths, the debuginfod cache, then on the DEBUGINFOD_URLS servers' -r -F
complete -c pgsync-dump -n "__fish_pgsync_dump_using_subcommand vtop" -l debuginfo -d 'Where symbols and types come from: a DWARF vmlinux, or the dump\'s own tables' -r -f -a "auto\t'A DWARF vmlinux if one is found, else the dump\'s own kallsyms and BTF'
dwarf\t'Only a DWARF vmlinux'
btf\t'Only the dump\'s kallsyms (or --system-map) and BTF (or --btf): no vmlinux'"
complete -c pgsync-dump -n "__fish_pgsync_dump_using_subcommand vtop" -l system-map -d 'Symbols from this System.map when the dump has no kallsyms in VMCOREINFO (before Linux 6.0); default: System.map next to the dump, else /boot/System.map-RELEASE' -r -F
complete -c pgsync-dump -n "__fish_pgsync_dump_using_subcommand vtop" -l btf -d 'Types from this BTF file (e.g. a copy of /sys/kernel/btf/vmlinux) when the dump\'s memory holds none' -r -F
complete -c pgsync-dump -n "__fish_pgsync_dump_using_subcommand vtop" -l offline -d 'Never use the network: no debuginfod download (its cache is still read)'
complete -c pgsync-dump -n "__fish_pgsync_dump_using_subcommand vtop" -s q -l quiet -d 'For scripts: results only. No progress bar and no warnings or notes on stderr; errors are still reported on stderr'
complete -c pgsync-dump -n "__fish_pgsync_dump_using_subcommand vtop" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c pgsync-dump -n "__fish_pgsync_dump_using_subcommand help; and not __fish_seen_subcommand_from analyze info dmesg tasks extract vtop help" -f -a "analyze" -d 'Compare every page table\'s kernel half with init_mm\'s and give a verdict'
complete -c pgsync-dump -n "__fish_pgsync_dump_using_subcommand help; and not __fish_seen_subcommand_from analyze info dmesg tasks extract vtop help" -f -a "info" -d 'What the dump is: format, release, build-id, paging, KASLR, CPUs'
complete -c pgsync-dump -n "__fish_pgsync_dump_using_subcommand help; and not __fish_seen_subcommand_from analyze info dmesg tasks extract vtop help" -f -a "dmesg" -d 'The kernel log from the printk ring buffer, with timestamps like dmesg'
complete -c pgsync-dump -n "__fish_pgsync_dump_using_subcommand help; and not __fish_seen_subcommand_from analyze info dmesg tasks extract vtop help" -f -a "tasks" -d 'Every task: pid, comm, mm, pgd, CPU it ran on, whether its page table diverged'
complete -c pgsync-dump -n "__fish_pgsync_dump_using_subcommand help; and not __fish_seen_subcommand_from analyze info dmesg tasks extract vtop help" -f -a "extract" -d 'Write a minimal self-contained reproduction of the analysis'
complete -c pgsync-dump -n "__fish_pgsync_dump_using_subcommand help; and not __fish_seen_subcommand_from analyze info dmesg tasks extract vtop help" -f -a "vtop" -d 'Translate a virtual address level by level, with raw entries and their addresses'
complete -c pgsync-dump -n "__fish_pgsync_dump_using_subcommand help; and not __fish_seen_subcommand_from analyze info dmesg tasks extract vtop help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
