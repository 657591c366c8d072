#!/usr/bin/env python3
"""Checks the CUDA butterfly's design without a GPU, in float64/float32 PyTorch on the CPU.

1. The multi-pass index arithmetic of cuda/butterfly_conv/butterfly.cu (column passes over whole rows for the outer stages, fused
   sub-rows of length n / (r_0 ... r_{t-1}) for the rest, spectra in digit order) against a direct convolution.
2. The rounding of the TF32 tensor-core stages used for bf16/fp16 inputs (operands rounded to 10-bit mantissas,
   float32 accumulation) against a float64 reference, at the shape of the GPU test.
3. The same for the opt-in 3xTF32 stages of float32 inputs (each operand split into two TF32 parts).
Run: scripts/env.sh's python (torch), e.g.  . scripts/env.sh && $SSM_PY scripts/butterfly-emulation.py
"""
import torch, math
def radices(n):
    primes, rest = [], n
    for p in (7,5,3,2):
        while rest%p==0: primes.append(p); rest//=p
    rad=[]
    for p in primes:
        for i,r in enumerate(rad):
            if r*p<=16: rad[i]*=p; break
        else: rad.append(p)
    return sorted(rad)  # smallest first, as ssm::butterfly_radices
def plan(n):
    rad=radices(n); P=[];m=[];acc=1
    for r in rad: P.append(acc); m.append(n//(acc*r)); acc*=r
    return rad,P,m
def dft(r): 
    i=torch.arange(r,dtype=torch.float64); return torch.exp(-2j*math.pi*torch.outer(i,i)/r)
def tw(q,N): return torch.exp(-2j*math.pi*((q%N).double())/N)
def col_fwd(v,F,j,N,R):
    o=F@v
    if N>R: o=o*tw(torch.arange(R)*j,N)
    return o
def col_adj(v,F,j,N,R):
    if N>R: v=v*torch.conj(tw(torch.arange(R)*j,N))
    return F.conj().T@v
def stage(x, r, P, m, F, adj):  # x: 1-D sub-row view (in place semantics)
    N=r*m
    for c in range(P*m):
        p=c//m; j=c-p*m
        idx=p*r*m+j+torch.arange(r)*m
        x[idx]=(col_adj if adj else col_fwd)(x[idx],F,j,N,r)
def run(u, k, maxfused):
    L=u.shape[0]; n=2*L  # any smooth n >= 2L-1
    rad,P,m=plan(n); s=len(rad); Fs=[dft(r) for r in rad]
    first=0
    while n//P[first] > maxfused: first+=1
    def pipeline(xreal, spec, out_spec):
        w=torch.zeros(n,dtype=torch.complex128); w[:len(xreal)]=xreal
        for kk in range(first): stage(w, rad[kk], P[kk], m[kk], Fs[kk], False)  # column passes over the full row
        subs=P[first]; ln=n//subs
        for sub in range(subs):
            x=w[sub*ln:(sub+1)*ln].clone()
            for kk in range(first,s): stage(x, rad[kk], P[kk]//subs, m[kk], Fs[kk], False)
            if out_spec: w[sub*ln:(sub+1)*ln]=x; continue
            x=x*spec[sub*ln:(sub+1)*ln]
            for kk in reversed(range(first,s)): stage(x, rad[kk], P[kk]//subs, m[kk], Fs[kk], True)
            w[sub*ln:(sub+1)*ln]=x
        if out_spec: return w
        for kk in reversed(range(first)): stage(w, rad[kk], P[kk], m[kk], Fs[kk], True)
        return w.real[:L]/n
    K=pipeline(k, None, True)
    return pipeline(u, K, False), rad, first
torch.manual_seed(0)
print("1. multi-pass index arithmetic (max |y - direct|, float64):")
for L,mf in [(24,16),(50,16),(120,20),(64,16),(700,100),(700,16),(500,16),(96,2000),(1024,64),(1024,256)]:
    u=torch.randn(L,dtype=torch.float64); k=torch.randn(L,dtype=torch.float64)
    y,rad,first=run(u,k,mf)
    ref=torch.tensor([sum(k[i-j]*u[j] for j in range(i+1)) for i in range(L)])
    print(L, rad, "first", first, "err %.2e"%(y-ref).abs().max().item())

def tf32(x):  # round float32 to TF32 (10-bit mantissa), nearest
    i = x.contiguous().view(torch.int32)
    i = (i + 0x1000) & ~0x1FFF
    return i.view(torch.float32)
def ctf32(z): return torch.complex(tf32(z.real), tf32(z.imag))
def split(z):  # complex64 -> (hi, lo), both with TF32 parts: the 3xTF32 operands
    hi = ctf32(z)
    return hi, ctf32(z - hi)
def product(M, X, mode):  # M (r, r) along axis -2 of X (..., r, m): float32, TF32 or 3xTF32 (float32 accumulation)
    f = lambda a, b: torch.einsum('ai,bpij->bpaj', a.to(torch.complex128), b.to(torch.complex128))
    if mode == 'tf32':
        return f(ctf32(M), ctf32(X)).to(torch.complex64)
    if mode == 'x3':
        (Mh, Ml), (Xh, Xl) = split(M), split(X)
        return (f(Mh, Xl) + f(Ml, Xh) + f(Mh, Xh)).to(torch.complex64)
    return torch.einsum('ai,bpij->bpaj', M, X)
def stages(x, rad, adj, mode):  # x: (rows, n) complex64; mode applies to the radix-16 stages
    n=x.shape[1]; P=1; plan=[]
    for r in rad: plan.append((r,P,n//(P*r))); P*=r
    order = reversed(range(len(plan))) if adj else range(len(plan))
    for k in order:
        r,P,m=plan[k]; N=r*m
        X=x.view(-1,P,r,m)
        a=torch.arange(r).view(r,1); j=torch.arange(m).view(1,m)
        tw=torch.exp(-2j*math.pi*((a*j)%N).double()/N).to(torch.complex64)
        M=(dft(r).conj().T if adj else dft(r)).to(torch.complex64)
        if adj and m>1: X=X*tw.conj()
        Y=product(M, X, mode if r == 16 else None)
        if not adj and m>1: Y=Y*tw
        x=Y.reshape(-1,n)
    return x
def conv_error(dt, mode):  # y from dt-rounded inputs through the emulated stages against float64 from the originals
    B,H,L=2,16,2048; n=4096; rad=[16,16,16]
    u=torch.randn(B*H,L); k=torch.randn(H,L)*torch.exp(-torch.arange(L)/512.); kr=torch.randn(H,L)*torch.exp(-torch.arange(L)/512.); D=torch.randn(H)
    uq,kq,krq,Dq=[t.to(dt).float() for t in (u,k,kr,D)]
    kp=torch.zeros(H,n); kp[:,:L]=kq; kp[:,n-L:]+=krq.flip(1)
    K=stages(kp.to(torch.complex64),rad,False,None)  # the kernel spectrum runs in float32 (float32 storage)
    up=torch.zeros(B*H,n); up[:,:L]=uq
    U=stages(up.to(torch.complex64),rad,False,mode)
    W=stages(U*K.repeat(B,1),rad,True,mode)
    y=(W.real[:,:L]/n + Dq.repeat(B).view(-1,1)*uq).to(dt).double()
    kp64=torch.zeros(H,n,dtype=torch.float64); kp64[:,:L]=k.double(); kp64[:,n-L:]+=kr.double().flip(1)
    up64=torch.zeros(B*H,n,dtype=torch.float64); up64[:,:L]=u.double()
    ref=torch.fft.ifft(torch.fft.fft(up64)*torch.fft.fft(kp64).repeat(B,1)).real[:,:L]+D.double().repeat(B).view(-1,1)*u.double()
    return ((y-ref).abs().max()/ref.abs().max()).item()

print("2. TF32 tensor-core stages (max |y - ref| / max |ref|):")
for dt in [torch.bfloat16, torch.float16]:
    torch.manual_seed(0)
    print(dt, "rel err %.2e"%conv_error(dt, 'tf32'))
print("3. float32 inputs, radix-16 stages in float32 or in 3xTF32 (max |y - ref| / max |ref|):")
for mode in [None, 'x3']:
    torch.manual_seed(0)
    print("3xTF32" if mode else "fp32  ", "rel err %.2e"%conv_error(torch.float32, mode))
