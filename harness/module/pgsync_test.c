// SPDX-License-Identifier: GPL-2.0
/*
 * pgsync_test: a test module for the pgsync-dump real-kernel harness.
 *
 * It simulates a missing kernel top-level page-table sync: it installs a
 * new top-level entry (PGD slot) ONLY in init_mm's page table, the way a
 * populate path without arch_sync_kernel_mappings() would, and never
 * calls sync_global_pgds().  Page tables made afterwards get the slot via
 * pgd_ctor(); older ones do not.
 *
 * Commands, written to /proc/pgsync_test (one per write):
 *   install     take the first empty slot after the vmemmap's slot, build
 *               the tables below it (p4d on 5-level, pud, pmd, pte) and map
 *               one data page; prints slot, address and entries to dmesg
 *   read N      read the mapped word of installation N (0-based) from the
 *               writing process's context; oopses if its page table lacks
 *               the slot ("BUG: unable to handle page fault ... PGD 0")
 *   replace N   point init_mm's slot of installation N to a fresh copy of
 *               the next-level table (same mapping, different table), so
 *               page tables that copied the old entry now differ
 *   remove N    clear init_mm's slot of installation N (tables are leaked
 *               on purpose), so copies made before are stale
 *
 * init_mm is not exported: its address comes from kallsyms_lookup_name(),
 * found with the usual kprobe trick (kallsyms_lookup_name is not exported
 * since 5.7).
 */
#include <linux/module.h>
#include <linux/kernel.h>
#include <linux/kprobes.h>
#include <linux/mm.h>
#include <linux/mm_types.h>
#include <linux/proc_fs.h>
#include <linux/uaccess.h>
#include <linux/gfp.h>
#include <asm/pgtable.h>

MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("pgsync-dump harness: install kernel PGD slots in init_mm only");

#define MAX_INST 4
#define DATA_OFFSET 0x5000UL /* page offset of the mapping inside the slot */
#define WORD_OFFSET 0x34UL   /* word read by "read" inside that page */
#define MAGIC 0x434e595347504721UL /* "!GPSYNC" little-endian bytes */

struct inst {
	int slot;
	unsigned long va;      /* address of the mapped data page */
	unsigned long *next;   /* table the init_mm slot points to (p4d or pud) */
	unsigned long *data;
};

static struct inst insts[MAX_INST];
static int ninst;
static struct mm_struct *kinit_mm;

static unsigned long lookup_name(const char *name)
{
	static unsigned long (*kln)(const char *name);

	if (!kln) {
		struct kprobe kp = { .symbol_name = "kallsyms_lookup_name" };

		if (register_kprobe(&kp) < 0)
			return 0;
		kln = (unsigned long (*)(const char *))kp.addr;
		unregister_kprobe(&kp);
	}
	return kln ? kln(name) : 0;
}

static unsigned long *zpage(void)
{
	return (unsigned long *)get_zeroed_page(GFP_KERNEL);
}

static unsigned long table_entry(void *table)
{
	return __pa(table) | _KERNPG_TABLE;
}

static unsigned long *top_table(void)
{
	return (unsigned long *)kinit_mm->pgd;
}

static int shift(void)
{
	return pgtable_l5_enabled() ? 48 : 39;
}

static int do_install(void)
{
	unsigned long *top = top_table();
	int first = (int)((vmemmap_base >> shift()) & 511) + 1;
	/* stay below the cpu_entry_area's slot (508 on 4-level, 511 on 5-level) */
	int limit = (int)((0xfffffe0000000000UL >> shift()) & 511);
	unsigned long *p4d = NULL, *pud, *pmd, *pte, *data;
	unsigned long va;
	struct inst *in;
	int slot, i;

	if (ninst >= MAX_INST)
		return -ENOSPC;
	for (slot = first; slot < limit; slot++)
		if (!(READ_ONCE(top[slot]) & _PAGE_PRESENT))
			break;
	if (slot >= limit) {
		pr_err("pgsync_test: no empty slot in [%d, %d)\n", first, limit);
		return -ENOSPC;
	}
	va = (unsigned long)(((long)slot - 512) << shift()) + DATA_OFFSET;

	if (pgtable_l5_enabled())
		p4d = zpage();
	pud = zpage();
	pmd = zpage();
	pte = zpage();
	data = zpage();
	if ((pgtable_l5_enabled() && !p4d) || !pud || !pmd || !pte || !data)
		return -ENOMEM;
	for (i = 0; i < PAGE_SIZE / sizeof(unsigned long); i++)
		data[i] = MAGIC + i;

	pte[(va >> 12) & 511] = pte_val(pfn_pte(__pa(data) >> PAGE_SHIFT, PAGE_KERNEL));
	pmd[(va >> 21) & 511] = table_entry(pte);
	pud[(va >> 30) & 511] = table_entry(pmd);
	if (p4d)
		p4d[(va >> 39) & 511] = table_entry(pud);
	wmb();
	/* the bug being simulated: init_mm only, no sync_global_pgds() */
	WRITE_ONCE(top[slot], table_entry(p4d ? p4d : pud));

	in = &insts[ninst];
	in->slot = slot;
	in->va = va;
	in->next = p4d ? p4d : pud;
	in->data = data;
	pr_info("pgsync_test: install %d: levels=%d slot=%d va=%px read_at=%px init_mm=%px init_mm.pgd=%px entry=%016lx vmemmap_base=%lx page_offset_base=%lx next_table=%px pud=%px pmd=%px pte=%px data=%px\n",
		ninst, pgtable_l5_enabled() ? 5 : 4, slot, (void *)va,
		(void *)(va + WORD_OFFSET), kinit_mm, top, top[slot],
		vmemmap_base, page_offset_base, in->next, pud, pmd, pte, data);
	ninst++;
	return 0;
}

static int do_read(int n)
{
	unsigned long v;

	if (n < 0 || n >= ninst)
		return -EINVAL;
	pr_info("pgsync_test: read %d: pid %d (%s) reads %px (slot %d)\n",
		n, current->pid, current->comm,
		(void *)(insts[n].va + WORD_OFFSET), insts[n].slot);
	v = READ_ONCE(*(unsigned long *)(insts[n].va + WORD_OFFSET));
	pr_info("pgsync_test: read %d: pid %d got %016lx\n", n, current->pid, v);
	return 0;
}

static int do_replace(int n)
{
	unsigned long *top = top_table();
	unsigned long *copy;
	struct inst *in;

	if (n < 0 || n >= ninst)
		return -EINVAL;
	in = &insts[n];
	copy = zpage();
	if (!copy)
		return -ENOMEM;
	memcpy(copy, in->next, PAGE_SIZE);
	wmb();
	WRITE_ONCE(top[in->slot], table_entry(copy));
	pr_info("pgsync_test: replace %d: slot=%d old_table=%px new_table=%px entry=%016lx\n",
		n, in->slot, in->next, copy, top[in->slot]);
	in->next = copy;
	return 0;
}

static int do_remove(int n)
{
	unsigned long *top = top_table();

	if (n < 0 || n >= ninst)
		return -EINVAL;
	WRITE_ONCE(top[insts[n].slot], 0);
	pr_info("pgsync_test: remove %d: slot=%d cleared in init_mm (tables leaked)\n",
		n, insts[n].slot);
	return 0;
}

static ssize_t pgsync_write(struct file *f, const char __user *ubuf,
			    size_t len, loff_t *off)
{
	char buf[32];
	int n = 0, ret;

	if (len >= sizeof(buf))
		return -EINVAL;
	if (copy_from_user(buf, ubuf, len))
		return -EFAULT;
	buf[len] = 0;
	strim(buf);
	if (!strcmp(buf, "install"))
		ret = do_install();
	else if (sscanf(buf, "read %d", &n) == 1)
		ret = do_read(n);
	else if (sscanf(buf, "replace %d", &n) == 1)
		ret = do_replace(n);
	else if (sscanf(buf, "remove %d", &n) == 1)
		ret = do_remove(n);
	else
		ret = -EINVAL;
	return ret < 0 ? ret : len;
}

static const struct proc_ops pgsync_ops = {
	.proc_write = pgsync_write,
};

static int __init pgsync_init(void)
{
	kinit_mm = (struct mm_struct *)lookup_name("init_mm");
	if (!kinit_mm) {
		pr_err("pgsync_test: cannot find init_mm\n");
		return -ENOENT;
	}
	if (!proc_create("pgsync_test", 0200, NULL, &pgsync_ops))
		return -ENOMEM;
	pr_info("pgsync_test: loaded: levels=%d pgdir_shift=%d init_mm=%px init_mm.pgd=%px page_offset_base=%lx vmalloc_base=%lx vmemmap_base=%lx\n",
		pgtable_l5_enabled() ? 5 : 4, shift(), kinit_mm, kinit_mm->pgd,
		page_offset_base, vmalloc_base, vmemmap_base);
	return 0;
}

static void __exit pgsync_exit(void)
{
	remove_proc_entry("pgsync_test", NULL);
}

module_init(pgsync_init);
module_exit(pgsync_exit);
