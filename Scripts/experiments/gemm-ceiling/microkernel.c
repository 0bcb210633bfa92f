// Usage: gcc -O2 -mavx2 -mfma microkernel.c -o microkernel -lpthread && ./microkernel MS NS THREADS
// MS strips of 6 rows (packed A), NS strips of 16 columns (packed B), KC 256; best of 20 sweeps per thread.
#include "kernel6x16.h"
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
static double now(){struct timespec t;clock_gettime(CLOCK_MONOTONIC,&t);return t.tv_sec+t.tv_nsec*1e-9;}
static int KC=256,MS,NS,REP=20;
static void*run(void*arg){float*ap=aligned_alloc(64,4L*KC*6*MS),*bp=aligned_alloc(64,4L*KC*16*NS),*c=aligned_alloc(64,4L*MS*6*NS*16);
 for(long i=0;i<(long)KC*6*MS;i++)ap[i]=0.5f;for(long i=0;i<(long)KC*16*NS;i++)bp[i]=0.25f;
 double best=1e9;for(int r=0;r<REP;r++){double t0=now();
  for(int s=0;s<MS;s++)for(int js=0;js<NS;js++)k6x16(KC,ap+s*KC*6,bp+js*KC*16,c+s*6*NS*16+js*16,NS*16,1,0);
  double dt=now()-t0;if(dt<best)best=dt;}
 *(double*)arg=2.0*KC*6*16*MS*NS/best/1e9;return 0;}
int main(int argc,char**argv){MS=atoi(argv[1]);NS=atoi(argv[2]);int T=atoi(argv[3]);pthread_t th[2];double g[2];
 for(int t=0;t<T;t++)pthread_create(&th[t],0,run,&g[t]);for(int t=0;t<T;t++)pthread_join(th[t],0);
 printf("MS %d NS %d (A %d KB, B %d KB) threads %d: %.1f %.1f GFLOP/s per thread\n",MS,NS,KC*6*MS*4/1024,KC*16*NS*4/1024,T,g[0],T>1?g[1]:0);}
