#include <immintrin.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
static double now(){struct timespec t;clock_gettime(CLOCK_MONOTONIC,&t);return t.tv_sec+t.tv_nsec*1e-9;}
static void k6x16(int kc,const float*a,const float*b,float*c,int ldc){
 __m256 c00=_mm256_setzero_ps(),c01=c00,c10=c00,c11=c00,c20=c00,c21=c00,c30=c00,c31=c00,c40=c00,c41=c00,c50=c00,c51=c00;
 for(int p=0;p<kc;p++){__m256 b0=_mm256_loadu_ps(b),b1=_mm256_loadu_ps(b+8);__m256 x;
  x=_mm256_broadcast_ss(a);c00=_mm256_fmadd_ps(x,b0,c00);c01=_mm256_fmadd_ps(x,b1,c01);
  x=_mm256_broadcast_ss(a+1);c10=_mm256_fmadd_ps(x,b0,c10);c11=_mm256_fmadd_ps(x,b1,c11);
  x=_mm256_broadcast_ss(a+2);c20=_mm256_fmadd_ps(x,b0,c20);c21=_mm256_fmadd_ps(x,b1,c21);
  x=_mm256_broadcast_ss(a+3);c30=_mm256_fmadd_ps(x,b0,c30);c31=_mm256_fmadd_ps(x,b1,c31);
  x=_mm256_broadcast_ss(a+4);c40=_mm256_fmadd_ps(x,b0,c40);c41=_mm256_fmadd_ps(x,b1,c41);
  x=_mm256_broadcast_ss(a+5);c50=_mm256_fmadd_ps(x,b0,c50);c51=_mm256_fmadd_ps(x,b1,c51);
  a+=6;b+=16;}
 _mm256_storeu_ps(c,c00);_mm256_storeu_ps(c+8,c01);c+=ldc;_mm256_storeu_ps(c,c10);_mm256_storeu_ps(c+8,c11);c+=ldc;
 _mm256_storeu_ps(c,c20);_mm256_storeu_ps(c+8,c21);c+=ldc;_mm256_storeu_ps(c,c30);_mm256_storeu_ps(c+8,c31);c+=ldc;
 _mm256_storeu_ps(c,c40);_mm256_storeu_ps(c+8,c41);c+=ldc;_mm256_storeu_ps(c,c50);_mm256_storeu_ps(c+8,c51);}
static int KC=256,MS,NS,REP=20;
static void*run(void*arg){float*ap=aligned_alloc(64,4L*KC*6*MS),*bp=aligned_alloc(64,4L*KC*16*NS),*c=aligned_alloc(64,4L*MS*6*NS*16);
 for(long i=0;i<(long)KC*6*MS;i++)ap[i]=0.5f;for(long i=0;i<(long)KC*16*NS;i++)bp[i]=0.25f;
 double best=1e9;for(int r=0;r<REP;r++){double t0=now();
  for(int s=0;s<MS;s++)for(int js=0;js<NS;js++)k6x16(KC,ap+s*KC*6,bp+js*KC*16,c+s*6*NS*16+js*16,NS*16);
  double dt=now()-t0;if(dt<best)best=dt;}
 *(double*)arg=2.0*KC*6*16*MS*NS/best/1e9;return 0;}
int main(int argc,char**argv){MS=atoi(argv[1]);NS=atoi(argv[2]);int T=atoi(argv[3]);pthread_t th[2];double g[2];
 for(int t=0;t<T;t++)pthread_create(&th[t],0,run,&g[t]);for(int t=0;t<T;t++)pthread_join(th[t],0);
 printf("MS %d NS %d (A %d KB, B %d KB) threads %d: %.1f %.1f GFLOP/s per thread\n",MS,NS,KC*6*MS*4/1024,KC*16*NS*4/1024,T,g[0],T>1?g[1]:0);}
