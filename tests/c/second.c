/* Second translation unit, linked FIRST so that its compile unit comes first
 * in .debug_info. It only declares the kernel-like structs (incomplete
 * types used through pointers), so a lookup must skip these declarations
 * and find the complete definitions in kernel_like.c's unit. */
struct task_struct;
struct mm_struct;
struct page;
struct signal_struct;

/* A typedef of an incomplete struct: looking up "task_t" must follow the
 * tag to the definition in the other unit. */
typedef struct task_struct task_t;

task_t *second_current;
struct mm_struct *second_mm;
struct page *second_page;
struct signal_struct *second_signal;

/* A complete struct defined only in this unit. */
struct only_in_second {
	long a;
	char b;
	struct mm_struct *mm;
};
struct only_in_second second_instance;

int second_unit_marker(void)
{
	return second_current != 0;
}
