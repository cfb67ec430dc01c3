console.log("navigator.gpu", typeof navigator.gpu);
const a = await navigator.gpu?.requestAdapter();
console.log(a, a?.info, (a as any)?.isFallbackAdapter);
const b = await navigator.gpu?.requestAdapter({forceFallbackAdapter: true});
console.log("fallback", b?.info, (b as any)?.isFallbackAdapter);
