# The kdump path of harness/run (--kdump), sourced by it: the guest boots
# with crashkernel=, loads a capture kernel with kexec -p (Debian's
# kexec-tools), crashes in the scenario, and the capture kernel
# (harness/guest/capture) runs pgsync-dump on /proc/vmcore, saves the dump
# (plain copy, makedumpfile -c -d 31) and powers off. The host then runs
# pgsync-dump and the referee on both saved files (harness/kdump_compare.py).
#
# Dumps go to $C/dumps/<release>/kdump-<scenario>-<4l|5l>/:
#   (kdump-<scenario>-<4l|5l>-novmlinux/ under PGSYNC_KDUMP_NO_VMLINUX=1:
#   no vmlinux disk in the capture kernel, only the dump's BTF + kallsyms)
#   vmcore.kdump-elf   the plain /proc/vmcore copy
#   vmcore.kdump-d31   makedumpfile -c -d 31 made in the capture kernel
#   capture/           what the capture kernel wrote: analyze*.json|err|stat
#                      (runstat: exit, wall_ms, maxrss_kb), makedumpfile.log,
#                      copy.stat, vmcore.size, capture-cpus, cmdline
#   referee-kdump-elf.json, referee-kdump-d31.json, kdump-compare.txt
# Guest RAM, crashkernel size and the capture kernel's command line:
KDUMP_GUEST_MEM=${PGSYNC_KDUMP_MEM:-512M}
# TCG, a cloud kernel and a ~10 MB initramfs (pgsync-dump, makedumpfile):
# 192M boots it with room for makedumpfile's tmpfs output
KDUMP_CRASHKERNEL=${PGSYNC_KDUMP_CRASHKERNEL:-192M}
# what Debian's kdump-tools appends (KDUMP_CMDLINE_APPEND), minus systemd;
# panic=1 (RHEL's kdump has panic=10): a capture kernel that panics reboots,
# which ends QEMU (-no-reboot), instead of hanging to the timeout;
# no_timer_check: under TCG on a loaded host the IO-APIC timer check
# sometimes fails ("IO-APIC + timer doesn't work!") and panics the capture
# kernel at boot (seen with 7.3.4)
KDUMP_CAPTURE_APPEND="console=ttyS0,115200 nr_cpus=1 irqpoll nousb reset_devices panic=1 no_timer_check"
KDUMP_MAKEDUMPFILE=${PGSYNC_KDUMP_MAKEDUMPFILE:-$C/build/makedumpfile-f50c015/makedumpfile}

# copy_with_libs FILE ROOT: FILE into ROOT/bin, its shared libraries (ldd)
# at their own paths under ROOT
copy_with_libs() {
	local f=$1 R=$2 lib
	cp "$f" "$R/bin/"
	for lib in $(ldd "$f" 2>/dev/null | grep -o '/[^ ]*'); do
		mkdir -p "$R$(dirname "$lib")"
		cp -L "$lib" "$R$lib"
	done
}
# kdump_modules RELEASE DEST: virtio_pci and virtio_blk with their
# dependencies (read from each module's .modinfo: the extracted packages
# have no modules.dep), decompressed into DEST, and DEST/order listing them
# dependencies first
kdump_modules() {
	local rel=$1 dest=$2 M=$C/kernels/$1/kdump-mods p
	if [ ! -f "$M/.done" ]; then
		rm -rf "$M"
		mkdir -p "$M"
		# the packages fetch_kernel extracted from (whichever are in debs/)
		for p in $(image_packages "$rel") "linux-image-$rel" "linux-image-$rel-unsigned"; do
			[ -n "$(deb_of "$p")" ] || continue
			dpkg-deb --fsys-tarfile "$(deb_of "$p")" |
				tar -x -C "$M" --wildcards '*/drivers/virtio/*.ko*' '*/drivers/block/virtio_blk.ko*' \
					2>/dev/null || true
		done
		touch "$M/.done"
	fi
	local order=() seen=" "
	add_mod() {
		local name=$1 f dep
		case $seen in *" $name "*) return 0 ;; esac
		f=$(find "$M" -name "$name.ko*" -o -name "${name//_/-}.ko*" | head -1)
		[ -n "$f" ] || { log "kdump: module $name not in $rel's packages (built in?)"; return 0; }
		for dep in $(modinfo -F depends "$f" | tr ',' ' '); do add_mod "$dep"; done
		seen="$seen$name "
		copy_ko "$f" "$dest/$name.ko"
		order+=("$name")
	}
	add_mod virtio_pci
	add_mod virtio_blk
	echo "${order[@]}" > "$dest/order"
}
build_kdump_initramfs() { # release
	local rel=$1 B=$C/build/$1 R K
	# the capture kernel's initramfs
	R=$B/capture-initramfs
	rm -rf "$R"
	mkdir -p "$R"/{bin,lib/modules,proc,sys,dev,tmp,mnt}
	cp /bin/busybox "$R/bin/busybox"
	ln -s busybox "$R/bin/sh"
	cp "$HARNESS/guest/capture" "$R/init"
	chmod 755 "$R/init"
	cp "$C/build/guest/runstat" "$R/bin/"
	cp "$PGSYNC_STATIC_BIN" "$R/bin/pgsync-dump"
	cp "$HARNESS/../scripts/kdump-hook.sh" "$R/bin/pgsync-kdump-hook"
	[ -x "$KDUMP_MAKEDUMPFILE" ] || die "no makedumpfile at $KDUMP_MAKEDUMPFILE (PGSYNC_KDUMP_MAKEDUMPFILE; README: f50c015 build)"
	copy_with_libs "$KDUMP_MAKEDUMPFILE" "$R"
	kdump_modules "$rel" "$R/lib/modules"
	(cd "$R" && find . | LC_ALL=C sort | cpio -o -H newc --quiet -R 0:0) | gzip -9 > "$B/capture.cpio.gz"
	# the crashing kernel's: the scenario initramfs plus kexec, the capture
	# kernel and its initramfs; no pvpanic (the crash must reach kexec, not
	# pause QEMU: with panic_on_oops the oops path kexecs first anyway)
	K=$B/kdump-initramfs
	rm -rf "$K"
	cp -a "$B/initramfs" "$K"
	rm -f "$K"/lib/modules/pvpanic*.ko
	mkdir -p "$K/kdump"
	copy_with_libs "$(command -v kexec)" "$K"
	cp "$(vmlinuz_of "$rel")" "$K/kdump/vmlinuz"
	cp "$B/capture.cpio.gz" "$K/kdump/"
	echo "$KDUMP_CAPTURE_APPEND" > "$K/kdump/cmdline"
	(cd "$K" && find . | LC_ALL=C sort | cpio -o -H newc --quiet -R 0:0) | gzip -9 > "$B/kdump-initramfs.cpio.gz"
	log "kdump initramfs for $rel: capture $(du -h "$B/capture.cpio.gz" | cut -f1), crashing $(du -h "$B/kdump-initramfs.cpio.gz" | cut -f1)"
}
# A read-only ext4 image holding the vmlinux (mke2fs -d), for the labelled
# --vmlinux runs in the capture kernel; one per release, removed by
# kdump_cleanup_release.
kdump_vmlinux_image() { # release -> path
	local rel=$1 img=$C/build/$1/vmlinux.ext4 dir src
	if [ ! -f "$img" ]; then
		dir=$(mktemp -d)
		# the file itself (7.x's boot/vmlinux-* is a symlink), hard-linked
		# when the filesystem allows it
		src=$(readlink -f "$(vmlinux_of "$rel")")
		ln "$src" "$dir/vmlinux" 2>/dev/null || cp "$src" "$dir/vmlinux"
		local mb=$(( $(stat -c %s "$dir/vmlinux") / 1048576 + 64 ))
		mke2fs -q -t ext4 -d "$dir" -L vmlinux "$img" "${mb}M" >&2
		rm -rf "$dir"
	fi
	echo "$img"
}
kdump_cleanup_release() { rm -f "$C/build/$1/vmlinux.ext4"; }

run_kdump_scenario() { # release mode scenario
	local rel=$1 mode=$2 sc=$3
	# without the vmlinux disk (PGSYNC_KDUMP_NO_VMLINUX=1, the production
	# case) the results go to their own directory, next to the runs with it
	local D=$C/dumps/$rel/kdump-$sc-$mode
	[ "${PGSYNC_KDUMP_NO_VMLINUX:-0}" = 1 ] && D=$D-novmlinux
	if [ -f "$D/.done" ] && [ $FORCE = 0 ]; then
		log "keeping $D"
		return 0
	fi
	rm -rf "$D"
	mkdir -p "$D/capture"
	ln -s "$(vmlinux_of "$rel")" "$D/vmlinux"
	local append="console=ttyS0,115200 panic_on_oops=1 oops=panic pti=on pgsync_scenario=$sc crashkernel=$KDUMP_CRASHKERNEL"
	[ "$mode" = 4l ] && append="$append no5lvl"
	local mem_mb=${KDUMP_GUEST_MEM%M}
	truncate -s 64M "$D/out.img"
	truncate -s $((mem_mb + 16))M "$D/vmcore.img"
	local vml=()
	[ "${PGSYNC_KDUMP_NO_VMLINUX:-0}" = 1 ] ||
		vml=(-drive "file=$(kdump_vmlinux_image "$rel"),format=raw,if=virtio,readonly=on")
	log "booting $rel $sc-$mode (kdump path, -m $KDUMP_GUEST_MEM crashkernel=$KDUMP_CRASHKERNEL)"
	local t0=$SECONDS rc=0
	timeout "${PGSYNC_KDUMP_TIMEOUT:-600}" nice -n 10 qemu-system-x86_64 -machine q35 -accel tcg -cpu max \
		-m "$KDUMP_GUEST_MEM" -smp 2 -kernel "$(vmlinuz_of "$rel")" \
		-initrd "$C/build/$rel/kdump-initramfs.cpio.gz" -append "$append" \
		-drive "file=$D/out.img,format=raw,if=virtio" \
		-drive "file=$D/vmcore.img,format=raw,if=virtio" "${vml[@]}" \
		-display none -monitor none -serial "file:$D/serial.log" -no-reboot \
		> "$D/qemu.log" 2>&1 || rc=$?
	echo "{\"qemu_exit\": $rc, \"seconds\": $((SECONDS - t0))}" > "$D/timing-kdump.json"
	if ! tar -xf "$D/out.img" -C "$D/capture" 2> /dev/null || [ ! -f "$D/capture/vmcore.size" ]; then
		log "no capture-kernel results for $rel kdump-$sc-$mode (qemu exit $rc); serial.log tail:"
		tail -20 "$D/serial.log" >&2 || true
		rm -f "$D/out.img" "$D/vmcore.img"
		return 1
	fi
	rm -f "$D/out.img"
	mv "$D/vmcore.img" "$D/vmcore.kdump-elf"
	truncate -s "$(cat "$D/capture/vmcore.size")" "$D/vmcore.kdump-elf"
	fallocate --dig-holes "$D/vmcore.kdump-elf" 2>/dev/null || true
	mv "$D/capture/vmcore.kdump-d31" "$D/vmcore.kdump-d31" 2>/dev/null ||
		log "the capture kernel's makedumpfile made no file (capture/makedumpfile.log)"
	local f
	for f in kdump-elf kdump-d31; do
		[ -f "$D/vmcore.$f" ] || continue
		/usr/bin/time -v -o "$D/referee-$f.time" "$C/venv/bin/python" "$HARNESS/referee.py" \
			"$D/vmcore.$f" --vmlinux "$D/vmlinux" -o "$D/referee-$f.json" 2>> "$D/referee.log" ||
			log "referee failed on $D/vmcore.$f (see referee.log)"
	done
	touch "$D/.done"
	# the three-way check now, then reduce: the extract reproductions of both
	# saved files (fixtures/real/*-kdump-*) stay, the plain copy goes unless
	# PGSYNC_KDUMP_KEEP=1 (the check's result stays in kdump-compare.json)
	PGSYNC_HARNESS_DIR=$C python3 "$HARNESS/kdump_compare.py" --require-no-vmlinux "$D" > "$D/kdump-compare.txt" 2>&1 ||
		log "kdump check: differences in $D (kdump-compare.txt)"
	sed 's/^/    /' "$D/kdump-compare.txt" >&2
	for f in kdump-elf kdump-d31; do
		[ -f "$D/vmcore.$f" ] && "$PGSYNC_HOST_BIN" extract -q "$D/vmcore.$f" --vmlinux "$D/vmlinux" \
			-o "$D/extract-$f" > /dev/null 2>&1 || true
	done
	[ "${PGSYNC_KDUMP_KEEP:-0}" = 1 ] || rm -f "$D/vmcore.kdump-elf"
}
