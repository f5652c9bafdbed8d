import type { AssetFile } from '@aeflow/tensor';

/**
 * timm's `wide_resnet50_2.tv_in1k`: torchvision's ImageNet Wide-ResNet-50-2 weights (IMAGENET1K_V1)
 * as safetensors with torchvision's state-dict names. About 276 MB. The SHA-256 is the one the
 * Hugging Face hub lists for the file's Git LFS object
 * (https://huggingface.co/timm/wide_resnet50_2.tv_in1k/blob/main/model.safetensors).
 */
export const WIDE_RESNET50_2_TV_IN1K: AssetFile = {
  path: 'assets/wide_resnet50_2.tv_in1k/model.safetensors',
  url: 'https://huggingface.co/timm/wide_resnet50_2.tv_in1k/resolve/main/model.safetensors',
  sha256: 'df6fb6c4824769769de18e14088475fd6ee94236849aa4e5d8022ba9d9a9a16c',
  license: 'BSD-3-Clause',
};

const MOBILENET_BASE = 'https://storage.googleapis.com/tfjs-models/tfjs/mobilenet_v1_1.0_224';
const MOBILENET_DIR = 'assets/mobilenet_v1_1.0_224';

/**
 * Google's MobileNet V1 1.0/224 (ImageNet) TF.js layers model: model.json and its weight shards,
 * with SHA-256 and sizes computed from a copy of the public files. group37 (conv_pw_13/kernel,
 * past every tap this package offers) is left out: it is never needed, and its checksum could not
 * be taken from a local copy.
 */
const MOBILENET_FILES: Array<[string, string, number]> = [
  ['model.json', 'a4704cbfa5ca688eaf1fd24bf34bebebb9f4d1c20fac91236b208750c5006714', 54214],
  ['group1-shard1of1', 'ac47f5e879eee80e5a3dd34e0c4b603c008c22697bd385a807b552196469cf8d', 3456],
  ['group2-shard1of1', '926336e665f89179ae48d22b321ef040d3d8e3c4934c7c34723dbd1de3586392', 512],
  ['group3-shard1of1', 'e8f32b3d128117cc17ff7e6577806a1af8db83045a036fb6c6bf5ee5f28a9235', 1152],
  ['group4-shard1of1', '825588712ad3472b2c3b38cc44902e527b7a2f445cb597ae40a2cbc51977167c', 18432],
  ['group5-shard1of1', '974e18c0dc5b9a6019858d30a5565577f0d8ea312026ac085a408f79d536cf20', 8192],
  ['group6-shard1of1', '9b4d71617f631e117d1b79254977e6dced7388bd611db803cbf6d792054f1294', 18432],
  ['group7-shard1of1', '9433ee1ea01855ce72da0a1025b708ac55dec728e309c9089c1c7dffa18a86b0', 8192],
  ['group8-shard1of1', 'cc8b9923e8c1715bc1d49123a62d66972b4189a5683121ee59780ed15f1265c8', 18432],
  ['group9-shard1of1', 'd5a6eb3aca535d2e29d6abe60e487f2a56fab1397af6b65bcfe23b8e248b456f', 8192],
  ['group10-shard1of1', 'd1e1d589dd26aa17b8e7a7de103b941a43001f61cb3d59d5c237aacf9a9cef29', 36864],
  ['group11-shard1of1', '32e4d7d093e54f8bfbf1d114695b3e3ad62cd8677903010c65bed89aac19c302', 16384],
  ['group12-shard1of1', '2460ac8019d24487c3d4ac62ecd6070c457d5cba907de5c6574adfad899987de', 512],
  ['group13-shard1of1', '050245f715febbb7cb23ef89c2785441f5ff1a40189e290e81b7f90f13561ffe', 2304],
  ['group14-shard1of1', '0f547921c1176411876a109a32f3753fdbd0ed14b4a98b179b31cd3c53752c7e', 1024],
  ['group15-shard1of1', '47337dadf5b8c0e796cc8b379df6267fc19001436636c068026acdf287d7e9f9', 4608],
  ['group16-shard1of1', 'a850a0cbcf85ec192302a012c153eae688e4256bae59205fa4b4509855b37d20', 2048],
  ['group17-shard1of1', '49f5a8ba9bebfbf9b336bd040abc6d4842497a3d47a396e8876cf0c704cf5325', 4608],
  ['group18-shard1of1', '8cec047146c18f723aaa728aa38ca2f2b04bacd9992eeb2aba3f07aa44ce00fc', 2048],
  ['group19-shard1of1', '1427f5a54802f9a058909705bb533ac4ecb94b617987e691c74cc3f2beea3f63', 9216],
  ['group20-shard1of1', 'd24cf40560fc4ad7a7842c9c17c3230c2a30633ac0ed397022bbbbe3f83f053c', 4096],
  ['group21-shard1of1', '5b8541d7f40659d311f46cf83bc0c1c4429b0b8efeeb98d91a98d56492ecbe36', 9216],
  ['group22-shard1of1', '8bc3f01dc12e506d8cad386abeef95fda46a79ca0d83798595664fee72283c20', 4096],
  ['group23-shard1of1', '0468e6901ec155cf9f2d8e4dc7f4b7dbbd8eec6ea857d0a2b7a7eb1b737089d9', 18432],
  ['group24-shard1of1', '3fef53547ee5e03d641edecdba198262e51e2fa659b43fee258a119bd12cf69e', 8192],
  ['group25-shard1of1', 'c966a3f767bf9ca947c8a8606d77eb7ab42a294ea273b238dbcdde6a46d6b8d8', 18432],
  ['group26-shard1of1', '0ca49a466f72a989190a937f8743b251c23a7f5030b777d24c97ae8e259415ab', 8192],
  ['group27-shard1of1', '96e41ae0bb8880e0c0fdc4c9126fef1c642bfbbd04c2170b05dffd2111493026', 18432],
  ['group28-shard1of1', 'ef5ad407e32120b20370ba6a54cdf03f339f6ace8fb7415348ac568285e5ec8f', 8192],
  ['group29-shard1of1', 'bfd7420872d4bceb70b686cb0c80fffb6530a6b43f5a86238504c2837707a211', 4100000],
  ['group30-shard1of1', '2399805be0d87c6787065c05bb40dfef2d3f5085d9313091c79c653454212aa2', 8192],
  ['group31-shard1of1', '9df450b5a6c9272224ba9114878f2513c3d7a4662a5d7e68562b44d1a21bcebd', 1048576],
  ['group32-shard1of1', 'b6530681265b4869dad58babd4070d59539dd17bd5e1b007a376bf4f8aa8975c', 8192],
  ['group33-shard1of1', 'df0f5e2fa512880a1f75002fcd0f953ba2b96222aa869772435701296ade8674', 1048576],
  ['group34-shard1of1', '885bb00463357c8ff83e8405c71e18663b3661886d80fcbfb8c135bafd4a99d9', 8192],
  ['group35-shard1of1', 'c1ae02f6cd5759a0550639e91918f2186a8331b9b711a97d73c97ea44cd28f17', 2097152],
  ['group36-shard1of1', 'f6997576dcb181aaed44a6c1eaf221f2a1cc4257fd29816a328c0e5a7230e81e', 16384],
  ['group38-shard1of1', '61020647623bcf0359f743e4244ff93a1bf81d3002e29ef33117897b3e57cd29', 16384],
  ['group39-shard1of1', 'b2fca54b325e305fb0e024910e11d80474d013262d85bac7f1eb64c5f58fe266', 1024],
  ['group40-shard1of1', 'c3f84328d85fb80b0ce341b2481fb1b9c71ab521f9f98fdd27451c727e00e302', 32768],
  ['group41-shard1of1', '1ca13d51a3434ff2dcb156c1cc6d44975d0e915d5c178e0b7b37fdc71846f939', 2048],
  ['group42-shard1of1', 'e74d4ab14b8137393eaf3e1eab8ac4a6ad5508148802a91631b2da23b987ecea', 65536],
  ['group43-shard1of1', '9adab0633661a9417f8abe693b5e1aa53f33868aa542d0bba9eb06afc1e49ae1', 2048],
  ['group44-shard1of1', '31a0da2cee66a6fa5b85d087b98f967a1566a05a6871abadb198cfc7094e3dc7', 131072],
  ['group45-shard1of1', 'b4e9c284d376ab48186ed8629d396c4a02cb76bc3c89837f6c936a1f26234834', 4096],
  ['group46-shard1of1', '752f6b8009dfc953e2e0e4d66d2c0d81f52efa4a9280c4013e9d928c03e90c24', 262144],
  ['group47-shard1of1', 'e32ad47dd3800ac264dbb7687ed73e453b09368fe35c7e7ce27c63dd8262e88e', 4096],
  ['group48-shard1of1', 'b2b63567b6fa40c5231451a3a4a1ec94ee45aa80bb802c166ba93f470c53a3f9', 524288],
  ['group49-shard1of1', '19212241aa418c35ca5e9d83c4bac8b9be9abd4a48ac5f01e912c14bc6a23b7b', 8192],
  ['group50-shard1of1', '1fb6d436f6334c585615d69786a7d5530f0302e23dbdedff27b73097a82a7cf0', 1048576],
  ['group51-shard1of1', '95950eba41daa55425261a1a544bb22f0fa7a52a08d1780b096a4c0d3c749cb4', 8192],
  ['group52-shard1of1', 'a072338a6d7b5df47e673e454a6b35d34c6c055a7fbd355a84db78811fdaa1c5', 1048576],
  ['group53-shard1of1', '9fdde22824b7e5cb812fb8479eeba2a2da2fe1abee8bb532ec202909339e03b6', 8192],
  ['group54-shard1of1', '887b0cac140eb3004f6f0ec265580c4681ad9277d8d2c88773373c0159e07188', 1048576],
  ['group55-shard1of1', 'e1a37a68fe9411f21df16e0c2c4ddd0099a590f3728c1dfc1f95eb43025659eb', 8192],
];

export const MOBILENET_V1_ASSETS: Readonly<Record<string, AssetFile>> = Object.fromEntries(
  MOBILENET_FILES.map(([name, sha256, bytes]) => [
    name,
    { path: `${MOBILENET_DIR}/${name}`, url: `${MOBILENET_BASE}/${name}`, sha256, bytes, license: 'Apache-2.0' },
  ]),
);
