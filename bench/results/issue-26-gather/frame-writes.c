/* Issue 26, ninth sitting: SQLite's write-ahead log as the group commit's writer writes it, in C.
 * Mode 0 writes each frame as SQLite does (its 24-byte header, then the 4,096-byte page: two
 * pwrite calls, each straddling the kernel's pages), mode 1 the same bytes as one pwrite per
 * commit; each commit then fsyncs, and the log starts again every 4,000 frames (as the
 * checkpointer lets it). Prints CPU and wall time per frame.
 *   gcc -O2 -o frame-writes frame-writes.c && ./frame-writes 0 36 3000 && ./frame-writes 1 36 3000
 * (it writes /work/wexp.wal; results in frame-writes.txt) */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <unistd.h>
#include <time.h>
#include <sys/resource.h>
static double cpu(){struct rusage r;getrusage(RUSAGE_SELF,&r);return r.ru_utime.tv_sec+r.ru_stime.tv_sec+(r.ru_utime.tv_usec+r.ru_stime.tv_usec)/1e6;}
static double wall(){struct timespec t;clock_gettime(CLOCK_MONOTONIC,&t);return t.tv_sec+t.tv_nsec/1e9;}
int main(int argc,char**argv){
  int mode=atoi(argv[1]); int frames=atoi(argv[2]); int batches=atoi(argv[3]);
  int fd=open("/work/wexp.wal",O_RDWR|O_CREAT|O_TRUNC,0644);
  char page[4096]; memset(page,7,sizeof page); char hdr[24]; memset(hdr,3,24);
  char *buf=malloc((size_t)frames*4120);
  off_t off=32; double c0=cpu(),w0=wall();
  long restart_every=4000; long fr=0;
  for(int b=0;b<batches;b++){
    if(mode==0){ for(int f=0;f<frames;f++){ pwrite(fd,hdr,24,off); pwrite(fd,page,4096,off+24); off+=4120; } }
    else { size_t n=0; for(int f=0;f<frames;f++){ memcpy(buf+n,hdr,24); memcpy(buf+n+24,page,4096); n+=4120; } pwrite(fd,buf,n,off); off+=n; }
    fsync(fd); fr+=frames; if(fr>=restart_every){ off=32; fr=0; }
  }
  double c=cpu()-c0,w=wall()-w0;
  printf("mode %d frames/batch %d: cpu %.1f us/frame, wall %.1f us/frame\n",mode,frames,c/(batches*frames)*1e6,w/(batches*frames)*1e6);
  return 0;
}
