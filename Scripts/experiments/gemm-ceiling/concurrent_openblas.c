#include <cblas.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
void openblas_set_num_threads(int);
static int M,N,K;
typedef struct { float *a,*b,*c; } job;
static double now(){struct timespec t;clock_gettime(CLOCK_MONOTONIC,&t);return t.tv_sec+t.tv_nsec*1e-9;}
static void* run(void*p){job*j=p;cblas_sgemm(CblasRowMajor,CblasNoTrans,CblasNoTrans,M,N,K,1,j->a,K,j->b,N,0,j->c,N);return 0;}
int main(int argc,char**argv){M=atoi(argv[1]);N=atoi(argv[2]);K=atoi(argv[3]);int T=atoi(argv[4]);int shareB=argc>5;
 openblas_set_num_threads(1);
 job js[2]; float*B0=malloc(4L*K*N);for(long i=0;i<(long)K*N;i++)B0[i]=rand()/(float)RAND_MAX;
 for(int t=0;t<2;t++){js[t].a=malloc(4L*M*K);js[t].b=shareB?B0:malloc(4L*K*N);js[t].c=malloc(4L*M*N);
  for(long i=0;i<(long)M*K;i++)js[t].a[i]=rand()/(float)RAND_MAX; if(!shareB)for(long i=0;i<(long)K*N;i++)js[t].b[i]=B0[i];}
 double best=1e9;
 for(int r=0;r<20;r++){double t0=now();pthread_t th[2];
  for(int t=0;t<T;t++)pthread_create(&th[t],0,run,&js[t]);for(int t=0;t<T;t++)pthread_join(th[t],0);
  double dt=now()-t0;if(r>1&&dt<best)best=dt;}
 printf("%dx%dx%d threads %d shareB %d: %.3f ms, %.1f GFLOP/s total\n",M,N,K,T,shareB,best*1e3,2.0*M*N*K*T/best/1e9);}
