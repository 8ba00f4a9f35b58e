/* Kernel-like struct layouts for the DWARF oracle test
 * (tests/debuginfo_gcc_oracle.rs). main() prints what gcc itself computes:
 *   size NAME BYTES
 *   off NAME PATH OFFSET SIZE        (offsetof / sizeof of a member path)
 *   offn NAME PATH OFFSET            (no sizeof: flexible arrays)
 *   bit NAME FIELD FIRST_BIT NBITS   (bit-fields: found by setting all bits)
 * and the test compares every line with what Vmlinux::types() reads. */
#include <stddef.h>
#include <stdio.h>
#include <string.h>

typedef unsigned char u8;
typedef unsigned short u16;
typedef unsigned int u32;
typedef unsigned long long u64;
typedef _Bool bool;

struct list_head {
	struct list_head *next, *prev;
};

/* Forward declaration, used through pointers before the definition below. */
struct mm_struct;
struct signal_struct;

typedef unsigned long pgdval_t;
typedef struct { pgdval_t pgd; } pgd_t;
typedef struct { int counter; } atomic_t;
typedef struct mm_struct *mm_ptr_t; /* typedef'd pointer */
typedef const volatile atomic_t cv_atomic_t;

struct callback_head {
	struct callback_head *next;
	void (*func)(struct callback_head *head);
};

struct task_struct {
	volatile long __state;
	unsigned int flags;
	/* bit-fields, including one crossing a byte and a zero-width break */
	unsigned int sched_reset_on_fork : 1;
	unsigned int sched_contributes : 3;
	unsigned int sched_migrated : 7;
	unsigned int : 0;
	unsigned long long wide_bits : 40;
	unsigned int after_bits;
	struct list_head tasks;
	struct mm_struct *mm;
	mm_ptr_t active_mm;
	int pid;
	int tgid;
	char comm[16];
	union {
		struct {
			int exit_code;
			const struct list_head thread_node;
		};
		struct {
			long pad_b;
			struct {
				int deep_x;
				union {
					short deep_short;
					long deep_long;
					struct list_head deep_list;
				};
			};
		};
	};
	cv_atomic_t usage;
	const struct signal_struct *signal;
	struct list_head thread_group;
	long matrix[3][4];
	pgd_t saved_pgd;
	struct callback_head rcu;
	void (*fn)(void);
	enum { TASK_A, TASK_B = 1000 } small_enum;
	u8 last_byte;
};

struct mm_struct {
	struct {
		struct {
			atomic_t mm_count;
		} __attribute__((aligned(64)));
		unsigned long task_size;
		pgd_t *pgd;
		atomic_t mm_users;
		int map_count;
		struct list_head mmlist;
		volatile unsigned long flags;
	} __attribute__((aligned(64)));
	unsigned long cpu_bitmap[];
};

struct page {
	unsigned long flags;
	union {
		struct {
			union {
				struct list_head lru;
				struct {
					void *__filler;
					unsigned int mlock_count;
				};
			};
			void *mapping;
			unsigned long index;
			unsigned long private;
		};
		struct {
			unsigned long pp_magic;
			void *pp;
			unsigned long _pp_mapping_pad;
			unsigned long dma_addr;
		};
		struct {
			unsigned long _pt_pad_1;
			unsigned long _pt_pad_2;
			union {
				struct mm_struct *pt_mm;
				atomic_t pt_frag_refcount;
			};
			unsigned long ptl;
		};
		struct callback_head callback_head;
	};
	union {
		atomic_t _mapcount;
		unsigned int page_type;
	};
	atomic_t _refcount;
	unsigned long memcg_data;
};

struct tlb_context {
	u64 ctx_id;
	u64 tlb_gen;
};

struct tlb_state {
	struct mm_struct *loaded_mm;
	union {
		struct mm_struct *last_user_mm;
		unsigned long last_user_mm_spec;
	};
	u16 loaded_mm_asid;
	u16 next_asid;
	bool invalidate_other;
	unsigned short user_pcid_flush_mask;
	unsigned long cr4;
	struct tlb_context ctxs[6];
};

struct signal_struct {
	atomic_t sigcnt;
	atomic_t live;
	int nr_threads;
	struct list_head thread_head;
};

struct pcpu_hot {
	union {
		struct {
			struct task_struct *current_task;
			int preempt_count;
			int cpu_number;
			u64 call_depth;
			unsigned long top_of_stack;
			void *hardirq_stack_ptr;
			u16 softirq_pending;
			bool hardirq_stack_inuse;
		};
		u8 pad[64];
	};
};

/* A struct embedding other structs by value, reached with dotted paths. */
struct rq {
	int nr_running;
	struct pcpu_hot hot;
	struct tlb_state tlb;
	struct task_struct *curr, *idle;
};

union thread_union {
	struct task_struct task;
	unsigned long stack[1024];
};

typedef struct {
	int typedef_only_a;
	struct list_head typedef_only_list;
} anon_typedef_t;

/* Instances keep every type in the debug info. */
struct task_struct init_task;
struct mm_struct init_mm;
struct page some_page;
struct tlb_state cpu_tlbstate;
struct signal_struct init_signals;
struct pcpu_hot pcpu_hot;
struct rq runqueues;
union thread_union init_thread_union;
anon_typedef_t anon_typedef_instance;
unsigned long __per_cpu_offset[8];

int second_unit_marker(void);

/* Storing all-ones into a bit-field truncates on purpose. */
#pragma GCC diagnostic ignored "-Woverflow"

#define SIZE(NAME, T) printf("size %s %zu\n", NAME, sizeof(T))
#define OFF(NAME, T, M) printf("off %s %s %zu %zu\n", NAME, #M, offsetof(T, M), sizeof(((T *)0)->M))
#define OFFN(NAME, T, M) printf("offn %s %s %zu\n", NAME, #M, offsetof(T, M))
#define BIT(NAME, T, F)                                                        \
	do {                                                                   \
		T v;                                                           \
		unsigned char *b = (unsigned char *)&v;                        \
		size_t i, first = (size_t)-1, n = 0;                           \
		memset(&v, 0, sizeof(v));                                      \
		v.F = ~0ull;                                                   \
		for (i = 0; i < sizeof(v) * 8; i++)                            \
			if (b[i / 8] & (1u << (i % 8))) {                      \
				if (first == (size_t)-1)                       \
					first = i;                             \
				n++;                                           \
			}                                                      \
		printf("bit %s %s %zu %zu\n", NAME, #F, first, n);             \
	} while (0)

int main(void)
{
	SIZE("task_struct", struct task_struct);
	OFF("task_struct", struct task_struct, __state);
	OFF("task_struct", struct task_struct, flags);
	OFF("task_struct", struct task_struct, after_bits);
	OFF("task_struct", struct task_struct, tasks);
	OFF("task_struct", struct task_struct, tasks.next);
	OFF("task_struct", struct task_struct, tasks.prev);
	OFF("task_struct", struct task_struct, mm);
	OFF("task_struct", struct task_struct, active_mm);
	OFF("task_struct", struct task_struct, pid);
	OFF("task_struct", struct task_struct, tgid);
	OFF("task_struct", struct task_struct, comm);
	OFF("task_struct", struct task_struct, exit_code);
	OFF("task_struct", struct task_struct, thread_node);
	OFF("task_struct", struct task_struct, thread_node.prev);
	OFF("task_struct", struct task_struct, pad_b);
	OFF("task_struct", struct task_struct, deep_x);
	OFF("task_struct", struct task_struct, deep_short);
	OFF("task_struct", struct task_struct, deep_long);
	OFF("task_struct", struct task_struct, deep_list);
	OFF("task_struct", struct task_struct, deep_list.prev);
	OFF("task_struct", struct task_struct, usage);
	OFF("task_struct", struct task_struct, usage.counter);
	OFF("task_struct", struct task_struct, signal);
	OFF("task_struct", struct task_struct, thread_group);
	OFF("task_struct", struct task_struct, matrix);
	OFF("task_struct", struct task_struct, saved_pgd);
	OFF("task_struct", struct task_struct, saved_pgd.pgd);
	OFF("task_struct", struct task_struct, rcu);
	OFF("task_struct", struct task_struct, rcu.func);
	OFF("task_struct", struct task_struct, fn);
	OFF("task_struct", struct task_struct, small_enum);
	OFF("task_struct", struct task_struct, last_byte);
	BIT("task_struct", struct task_struct, sched_reset_on_fork);
	BIT("task_struct", struct task_struct, sched_contributes);
	BIT("task_struct", struct task_struct, sched_migrated);
	BIT("task_struct", struct task_struct, wide_bits);

	SIZE("task_t", struct task_struct);
	OFF("task_t", struct task_struct, tasks.next);
	OFF("task_t", struct task_struct, thread_node);

	SIZE("mm_struct", struct mm_struct);
	OFF("mm_struct", struct mm_struct, mm_count);
	OFF("mm_struct", struct mm_struct, task_size);
	OFF("mm_struct", struct mm_struct, pgd);
	OFF("mm_struct", struct mm_struct, mm_users);
	OFF("mm_struct", struct mm_struct, map_count);
	OFF("mm_struct", struct mm_struct, mmlist);
	OFF("mm_struct", struct mm_struct, mmlist.next);
	OFF("mm_struct", struct mm_struct, flags);
	OFFN("mm_struct", struct mm_struct, cpu_bitmap);

	SIZE("page", struct page);
	OFF("page", struct page, flags);
	OFF("page", struct page, lru);
	OFF("page", struct page, lru.prev);
	OFF("page", struct page, __filler);
	OFF("page", struct page, mlock_count);
	OFF("page", struct page, mapping);
	OFF("page", struct page, index);
	OFF("page", struct page, private);
	OFF("page", struct page, pp_magic);
	OFF("page", struct page, dma_addr);
	OFF("page", struct page, pt_mm);
	OFF("page", struct page, pt_frag_refcount);
	OFF("page", struct page, ptl);
	OFF("page", struct page, callback_head);
	OFF("page", struct page, callback_head.func);
	OFF("page", struct page, _mapcount);
	OFF("page", struct page, page_type);
	OFF("page", struct page, _refcount);
	OFF("page", struct page, memcg_data);

	SIZE("list_head", struct list_head);
	OFF("list_head", struct list_head, next);
	OFF("list_head", struct list_head, prev);

	SIZE("tlb_state", struct tlb_state);
	OFF("tlb_state", struct tlb_state, loaded_mm);
	OFF("tlb_state", struct tlb_state, last_user_mm);
	OFF("tlb_state", struct tlb_state, last_user_mm_spec);
	OFF("tlb_state", struct tlb_state, loaded_mm_asid);
	OFF("tlb_state", struct tlb_state, next_asid);
	OFF("tlb_state", struct tlb_state, invalidate_other);
	OFF("tlb_state", struct tlb_state, user_pcid_flush_mask);
	OFF("tlb_state", struct tlb_state, cr4);
	OFF("tlb_state", struct tlb_state, ctxs);

	SIZE("signal_struct", struct signal_struct);
	OFF("signal_struct", struct signal_struct, nr_threads);
	OFF("signal_struct", struct signal_struct, thread_head);
	OFF("signal_struct", struct signal_struct, thread_head.prev);

	SIZE("pcpu_hot", struct pcpu_hot);
	OFF("pcpu_hot", struct pcpu_hot, current_task);
	OFF("pcpu_hot", struct pcpu_hot, cpu_number);
	OFF("pcpu_hot", struct pcpu_hot, hardirq_stack_inuse);
	OFF("pcpu_hot", struct pcpu_hot, pad);

	SIZE("rq", struct rq);
	OFF("rq", struct rq, hot.current_task);
	OFF("rq", struct rq, hot.softirq_pending);
	OFF("rq", struct rq, tlb.loaded_mm);
	OFF("rq", struct rq, tlb.last_user_mm_spec);
	OFF("rq", struct rq, tlb.ctxs);
	OFF("rq", struct rq, curr);
	OFF("rq", struct rq, idle);

	SIZE("thread_union", union thread_union);
	OFF("thread_union", union thread_union, task.tasks.prev);
	OFF("thread_union", union thread_union, stack);

	SIZE("anon_typedef_t", anon_typedef_t);
	OFF("anon_typedef_t", anon_typedef_t, typedef_only_list.prev);

	SIZE("callback_head", struct callback_head);
	OFF("callback_head", struct callback_head, func);

	return second_unit_marker();
}
