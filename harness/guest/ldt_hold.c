/* ldt_hold: install one LDT entry with modify_ldt(2), then sleep forever.
 * Under PTI this makes the kernel map the LDT into this process's page
 * table at the LDT remap slot (272), which init_mm never has. */
#include <asm/ldt.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

int main(void)
{
	struct user_desc d;
	memset(&d, 0, sizeof(d));
	d.entry_number = 0;
	d.base_addr = 0;
	d.limit = 0xfffff;
	d.seg_32bit = 1;
	d.contents = 0;            /* data, expand-up */
	d.limit_in_pages = 1;
	d.useable = 1;
	long r = syscall(SYS_modify_ldt, 1, &d, sizeof(d));
	printf("ldt_hold: pid %d modify_ldt -> %ld\n", (int)getpid(), r);
	fflush(stdout);
	for (;;)
		pause();
}
