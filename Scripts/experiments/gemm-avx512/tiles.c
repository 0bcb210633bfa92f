#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <math.h>
#include <time.h>
#include <pthread.h>
typedef void (*G)(int,int,long,long,long,float,const float*,long,const float*,long,float,float*,long);
#define DECL(x) void sgemm_##x(int,int,long,long,long,float,const float*,long,const float*,long,float,float*,long);
VARIANTS
static double now(void){struct timespec t;clock_gettime(CLOCK_MONOTONIC,&t);return t.tv_sec+t.tv_nsec*1e-9;}
static void blas(int ta,int tb,long m,long n,long k,float al,const float*a,long lda,const float*b,long ldb,float be,float*c,long ldc){
 cblas_sgemm(CblasRowMajor,ta?CblasTrans:CblasNoTrans,tb?CblasTrans:CblasNoTrans,m,n,k,al,a,lda,b,ldb,be,c,ldc);}
typedef struct { double t; G g; int ta, tb; long m,n,k; const float *a,*b; float *c; long lda, ldb, ldc; } Job;
static double cpu(void){struct timespec t;clock_gettime(CLOCK_THREAD_CPUTIME_ID,&t);return t.tv_sec+t.tv_nsec*1e-9;}
static void run1(Job *j){ double t0=cpu(); j->g(j->ta,j->tb,j->m,j->n,j->k,1,j->a,j->lda,j->b,j->ldb,0,j->c,j->ldc); j->t=cpu()-t0;}
static void*thr(void*p){run1(p);return 0;}
static double runT(Job j,int T){ if(T==1){run1(&j);return j.t;} Job js[2]; pthread_t th;
  js[0]=j; js[1]=j;
  if (j.m >= j.n) { long half=(j.m/2+15)/16*16; js[0].m=half; js[1].m=j.m-half; js[1].a = j.ta? j.a+half : j.a+half*j.lda; js[1].c=j.c+half*j.ldc; }
  else { long half=(j.n/2+31)/32*32; js[0].n=half; js[1].n=j.n-half; js[1].b = j.tb? j.b+half*j.ldb : j.b+half; js[1].c=j.c+half; }
  pthread_create(&th,0,thr,&js[1]); run1(&js[0]); pthread_join(th,0); return js[0].t>js[1].t?js[0].t:js[1].t;}
int main(int argc,char**argv){
  int T=atoi(argv[1]); openblas_set_num_threads(1);
  G gs[]={blas, GS}; const char*names[]={"openblas", NAMES}; int NG=sizeof(gs)/sizeof(gs[0]);
  for(int s=2;s+4<argc;s+=5){ int ta=atoi(argv[s]),tb=atoi(argv[s+1]); long m=atol(argv[s+2]),n=atol(argv[s+3]),k=atol(argv[s+4]);
    long lda= ta?m:k, ldb= tb?k:n;
    float*a=aligned_alloc(64,4*m*k+64),*b=aligned_alloc(64,4*k*n+64),*c=aligned_alloc(64,4*m*n+64);
    for(long i=0;i<m*k;i++)a[i]=(float)rand()/(float)RAND_MAX-.5f; for(long i=0;i<k*n;i++)b[i]=(float)rand()/(float)RAND_MAX-.5f;
    double best[16]; for(int v=0;v<NG;v++){best[v]=1e9; Job j={0,gs[v],ta,tb,m,n,k,a,b,c,lda,ldb,n}; runT(j,T);}
    int reps= (m*n*k>2e9)?4:10;
    for(int r=0;r<reps;r++) for(int v=0;v<NG;v++){ Job j={0,gs[v],ta,tb,m,n,k,a,b,c,lda,ldb,n}; double t=runT(j,T); if(t<best[v])best[v]=t;}
    double f=2.0*m*n*k; printf("%c%c %5ldx%5ldx%5ld T=%d", ta?'T':'N', tb?'T':'N', m,n,k,T);
    for(int v=0;v<NG;v++) printf("  %s %6.1f", names[v], f/best[v]/1e9); printf("\n"); fflush(stdout);
    free(a);free(b);free(c);}
}
